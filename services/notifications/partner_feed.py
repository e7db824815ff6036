"""The partner stream (``partners.events.v1``): the events partners may read, as partners
may see them. Pure rules, no I/O: ``partner_view`` decides, the handler enqueues.

Partners see companies (name, organisation number, NACE codes, plot), listings, contracts
and deliveries; never people, proposals, negotiations or invoices. Prices and terms only
where the companies concerned share them (``share_terms_with_partners``): a listing's when
its company shares, a contract's when both do. Free-text notes on deliveries (weighbridge
notes, dispute reasons written by people) are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Set

from shared.events import (
    PARTNER_FEED,
    ContractAgreed,
    DeliveryFacts,
    Envelope,
    ListingFacts,
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


def partner_view(payload: Payload, sharing: Set[uuid.UUID]) -> Payload | None:
    """What partners see of ``payload`` (None: nothing), given the companies that share."""
    if type(payload) not in PARTNER_FEED:
        return None
    if isinstance(payload, ListingFacts) and payload.company_id not in sharing:
        return payload.model_copy(update={"price_per_unit_ore": None})
    if isinstance(payload, ContractAgreed) and not companies_of(payload) <= sharing:
        return payload.model_copy(update={"price_per_unit_ore": None, "terms": None})
    if isinstance(payload, DeliveryFacts):
        return payload.model_copy(update={"note": None})
    return payload


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
