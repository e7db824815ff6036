"""Which offer and need make a trade, and how much of it; no I/O here.

This is the walking skeleton's rule: the same resource (List of Waste code or resource
class), opposite kinds, different companies, convertible units. The full matcher (quality
limits, windows, permits, distance, value) replaces it in issue 4.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from services.matching import knowledge
from shared.units import convert, format_quantity

PROPOSAL_NAMESPACE = uuid.UUID("6f1d9a4e-4c61-4f4e-9a53-7d0b2c1f3e11")


@dataclass(frozen=True)
class OpenListing:
    listing_id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    ewc_code: str | None
    resource_class: str | None
    title: str
    quantity: Decimal
    unit: str

    @property
    def resource(self) -> str:
        """What is traded: a List of Waste code, or ``class:<name>`` for heat, water, ..."""
        return self.ewc_code or f"class:{self.resource_class}"


@dataclass(frozen=True)
class Proposal:
    proposal_id: uuid.UUID
    offer: OpenListing
    need: OpenListing
    quantity: Decimal
    unit: str
    reasons: tuple[str, ...]


def proposal_id(offer_id: uuid.UUID, need_id: uuid.UUID) -> uuid.UUID:
    """The same pair always gives the same id, so a pair is never proposed twice."""
    return uuid.uuid5(PROPOSAL_NAMESPACE, f"{offer_id}/{need_id}")


def locks_for(listing: OpenListing) -> list[str]:
    """The resource locks to hold while matching ``listing``, in a deadlock-free order.

    An offer holds its own resource; a need holds every resource it accepts. So an offer
    and a need that could match always share a lock, and one sees the other committed.
    """
    if listing.kind == "offer":
        return [listing.resource]
    return sorted(knowledge.accepted_by(listing.resource))


def candidate_resources(listing: OpenListing) -> list[str]:
    """Resources of the listings of the other kind that could match this one."""
    if listing.kind == "offer":
        return sorted(knowledge.served_by(listing.resource))
    return sorted(knowledge.accepted_by(listing.resource))


def _resource_reason(offer: OpenListing, need: OpenListing, use: knowledge.Use) -> str:
    if offer.resource == need.resource:
        return (
            f"same List of Waste code {offer.ewc_code}"
            if offer.ewc_code
            else f"same resource class {offer.resource_class}"
        )
    return f"{offer.resource} serves a need for {need.resource} as {use.use} ({use.basis})"


def propose(a: OpenListing, b: OpenListing) -> Proposal | None:
    """A proposal between two listings, or None when they do not make a trade."""
    if a.kind == b.kind or a.company_id == b.company_id:
        return None
    offer, need = (a, b) if a.kind == "offer" else (b, a)
    use = knowledge.link(offer.resource, need.resource)
    if use is None:
        return None
    available = convert(offer.quantity, offer.unit, need.unit)
    if available is None:
        return None
    quantity = min(available, need.quantity)
    return Proposal(
        proposal_id=proposal_id(offer.listing_id, need.listing_id),
        offer=offer,
        need=need,
        quantity=quantity,
        unit=need.unit,
        reasons=(
            _resource_reason(offer, need, use),
            f"the offer of {format_quantity(offer.quantity, offer.unit)} covers "
            f"{format_quantity(quantity, need.unit)} of the "
            f"{format_quantity(need.quantity, need.unit)} needed",
        ),
    )
