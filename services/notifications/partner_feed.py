"""The partner stream (``partners.events.v1``): the events partners may read, as partners
may see them. Pure rules, no I/O: ``partner_view`` decides, the handler enqueues.

Partners see companies (name, organisation number, NACE codes, plot), listings, contracts
and deliveries; never people, proposals, negotiations or invoices. Prices and terms only
where the companies concerned share them (``share_terms_with_partners``): a listing's when
its company shares, a contract's when both do. Free-text notes on deliveries (weighbridge
notes, dispute reasons written by people) are left out.

Whether a company shares is known here from ``company.changed``, read on another partition
than the listing or contract it decides: an event made just after a change may be read
before it. So an event's own word comes first: a listing's event says what its company
shared when it was made; ``contract.agreed`` says what the contracts service knew, with the
change it knew, and the later of that and ours decides. Events from before those fields
existed go by what is known here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from shared.events import (
    PARTNER_FEED,
    ContractAgreed,
    DeliveryFacts,
    Envelope,
    ListingFacts,
    PartnerSharing,
    Payload,
)

# Partner events get ids of their own, the same on every redelivery of the original.
PARTNER_EVENT_IDS = uuid.UUID("0f6f3a52-8a0c-4b64-9b7e-4f4ad0b0d7a1")


def companies_of(payload: Payload) -> set[uuid.UUID]:
    """The companies whose sharing decides what partners see of ``payload``."""
    if isinstance(payload, ListingFacts):
        return {payload.company_id}
    if isinstance(payload, ContractAgreed):
        return {payload.supplier_company_id, payload.receiver_company_id}
    return set()


def partner_view(payload: Payload, known: Mapping[uuid.UUID, PartnerSharing]) -> Payload | None:
    """What partners see of ``payload`` (None: nothing), given what is known here of its
    companies' sharing (from ``company.changed``)."""
    if type(payload) not in PARTNER_FEED:
        return None
    if isinstance(payload, ListingFacts) and not _listing_shared(payload, known):
        return payload.model_copy(update={"price_per_unit_ore": None})
    if isinstance(payload, ContractAgreed) and not _contract_shared(payload, known):
        return payload.model_copy(update={"price_per_unit_ore": None, "terms": None})
    if isinstance(payload, DeliveryFacts):
        return payload.model_copy(update={"note": None})
    return payload


def _listing_shared(listing: ListingFacts, known: Mapping[uuid.UUID, PartnerSharing]) -> bool:
    """The listing's own word (its company's sharing when it was made), else ours."""
    if listing.share_terms_with_partners is not None:
        return listing.share_terms_with_partners
    ours = known.get(listing.company_id)
    return ours is not None and ours.share_terms_with_partners


def _contract_shared(contract: ContractAgreed, known: Mapping[uuid.UUID, PartnerSharing]) -> bool:
    """Both companies share, each by the later change of the event's and ours."""
    parties = (
        (contract.supplier_company_id, contract.supplier_sharing),
        (contract.receiver_company_id, contract.receiver_sharing),
    )
    for company_id, theirs in parties:
        ours = known.get(company_id)
        latest = max(
            (s for s in (theirs, ours) if s is not None),
            key=lambda s: s.changed_at,
            default=None,
        )
        if latest is None or not latest.share_terms_with_partners:
            return False
    return True


def partner_envelope(original: Envelope, view: Payload) -> Envelope:
    """The partner event: the original's type, subject, time and correlation, its own id."""
    return Envelope.wrap(
        view,
        source=original.source,
        subject=original.subject,
        correlation_id=original.correlationid,
        event_id=uuid.uuid5(PARTNER_EVENT_IDS, str(original.id)),
        time=original.time,
    )
