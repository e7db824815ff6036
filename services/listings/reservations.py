"""A listing's quantity as contracts take it: what a contract may reserve, what remains,
and the status that leaves. Plain Python, no I/O: the Kafka handlers (``handlers``) and the
HTTP API (``api``) run these rules in their transaction and publish what they decide.

A listing's row is data here (``storage.ListingRow``); its events' fields are ``facts``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from services.listings.storage import ListingRow
from shared import periods
from shared.events import ContractAgreed, ListingFacts
from shared.resources import convert_listing


def facts(row: ListingRow) -> dict[str, Any]:
    """The fields of the listing's events, from its row: each by its name (the row's ``id``
    is the event's ``listing_id``)."""
    return {
        name: getattr(row, "id" if name == "listing_id" else name)
        for name in ListingFacts.model_fields
    }


def shares_of(
    contract: ContractAgreed, listing: ListingRow, wanted: Decimal
) -> dict[date, Decimal]:
    """What the contract takes of the listing, period by period (``shared.periods``)."""
    terms = contract.terms
    return periods.shares(
        listing.frequency,
        wanted,
        terms.schedule if terms else "once",
        terms.delivery_from if terms else None,
        terms.delivery_until if terms else None,
        max(contract.agreed_at.date(), listing.available_from),
    )


def in_listing_unit(listing: ListingRow, quantity: Decimal, unit: str) -> Decimal | None:
    """A contract's quantity in the listing's unit: tonnes of steam agreed in MWh reserve
    the tonnes that hold that energy (by the listing's stated pressure and temperature)."""
    resource = listing.ewc_code or f"class:{listing.resource_class}"
    return convert_listing(resource, listing.quality, quantity, unit, listing.unit)


def refusal(
    contract: ContractAgreed,
    listing: ListingRow | None,
    wanted: Decimal | None,
    taken: dict[date, Decimal],
) -> str | None:
    """Why this listing cannot give the contract its quantity, or None when it can."""
    if listing is None:
        return "no such listing"
    if listing.status not in ("open", "reserved"):
        return f"the listing is {listing.status}"
    if wanted is None:
        return f"{contract.unit} cannot be converted to the listing's unit {listing.unit}"
    over = periods.overbooked(listing.quantity, taken, shares_of(contract, listing, wanted))
    if over:
        period, free = min(over.items())
        if period == periods.ONCE:
            return (
                f"the contract needs {wanted.normalize():f} {listing.unit}, but only "
                f"{free.normalize():f} remain"
            )
        return (
            f"the contract needs more than the listing has in the period from "
            f"{period.isoformat()}: only {free.normalize():f} remain ({listing.unit})"
        )
    return None


def remaining_after(
    listing: ListingRow, taken: dict[date, Decimal], today: date | None = None
) -> Decimal:
    """What remains open of the listing once ``taken`` is reserved (a stream: in the period
    from today)."""
    start = max(today or date.today(), listing.available_from)
    return periods.remaining(listing.quantity, taken, listing.frequency, start)


def status_after_reserving(listing: ListingRow, remaining: Decimal) -> str:
    """A listing taken in full is reserved; a stream renews every period, so it stays open
    for the periods it still has."""
    return "reserved" if remaining == 0 and listing.frequency == "once" else "open"


def status_after_releasing(listing: ListingRow) -> str:
    """A listing given back quantity by a cancelled contract opens again."""
    return "open" if listing.status == "reserved" else listing.status
