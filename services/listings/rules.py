"""The rules of a listing once it exists: what a change may do to it, what a contract may
reserve of it, what remains and the status that leaves. Plain Python, no I/O: the HTTP API
(``api``) and the Kafka handlers (``handlers``) run these rules in their transaction, write
what they decide and publish its events (``facts``). A refusal names its field and code
(``shared.refusals.Refusal``).

A listing's row is data here (``storage.ListingRow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from services.listings import domain
from services.listings.storage import ListingRow
from shared import periods
from shared.events import ContractAgreed, ListingFacts
from shared.knowledge import listing_resources
from shared.refusals import GENERIC, Refusal
from shared.resources import convert_listing
from shared.units import to_base

# What a change may not set to null: the rest (a price, an end date) may be cleared.
REQUIRED = (
    "title",
    "description",
    "quantity",
    "available_from",
    "transport",
    "quality",
    "internal_note",
    "location",
)


def facts(row: ListingRow, share_terms_with_partners: bool) -> dict[str, Any]:
    """The fields of the listing's events, from its row: each by its name (the row's ``id``
    is the event's ``listing_id``); and whether its company shares its terms with partners,
    as the caller's transaction read it (``storage.shares_terms``)."""
    return {
        name: getattr(row, "id" if name == "listing_id" else name)
        for name in ListingFacts.model_fields
        if name != "share_terms_with_partners"
    } | {"share_terms_with_partners": share_terms_with_partners}


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
) -> Refusal | None:
    """Why this listing cannot give the contract its quantity (a code with its parameters,
    and the English sentence), or None when it can."""
    if listing is None:
        return Refusal("listing.missing", "no such listing")
    if listing.status not in ("open", "reserved"):
        return Refusal(
            "listing.not_open", f"the listing is {listing.status}", status=listing.status
        )
    if wanted is None:
        return Refusal(
            "listing.unit_mismatch",
            f"{contract.unit} cannot be converted to the listing's unit {listing.unit}",
            unit=contract.unit,
            listing_unit=listing.unit,
        )
    over = periods.overbooked(listing.quantity, taken, shares_of(contract, listing, wanted))
    if over:
        period, free = min(over.items())
        if period == periods.ONCE:
            return Refusal(
                "listing.too_little",
                f"the contract needs {wanted.normalize():f} {listing.unit}, but only "
                f"{free.normalize():f} remain",
                needed=wanted,
                free=free,
                unit=listing.unit,
            )
        return Refusal(
            "listing.too_little_in_period",
            f"the contract needs more than the listing has in the period from "
            f"{period.isoformat()}: only {free.normalize():f} remain ({listing.unit})",
            period=period,
            free=free,
            unit=listing.unit,
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


def _at(field: str, error: ValueError) -> Refusal:
    if isinstance(error, Refusal):
        return Refusal(error.code, error.message, field=error.field or field, **error.params)
    return Refusal(GENERIC, str(error), field=field)


def changes_to(
    listing: ListingRow,
    sent: Mapping[str, Any],
    reserved: dict[date, Decimal],
    today: date | None = None,
) -> dict[str, Any]:
    """The columns a change of an open (or reserved, or draft) listing writes, from the
    fields ``sent`` (JSON-like: quality as a list of dicts, location as a dict); ``reserved``
    is what contracts hold of it, by period. A refusal names the field at fault."""
    changes = dict(sent)
    for name in REQUIRED:
        if name in changes and changes[name] is None:
            raise Refusal("value.missing", "cannot be null", field=name)
    if "quality" in changes:
        accepts = changes.get("accepts", listing.accepts) or []
        resources = listing_resources(
            listing.ewc_code, listing.resource_class, listing.use, accepts
        )
        kept = tuple(q["property"] for q in listing.quality)
        try:
            domain.check_known_quality(resources, changes["quality"], kept)
            if listing.resource_class:
                domain.check_required_quality(listing.resource_class, changes["quality"])
        except ValueError as exc:
            raise _at("quality", exc) from None
    if "location" in changes:
        location = changes.pop("location")
        changes |= {k: location[k] for k in ("plot", "latitude", "longitude")}
    if "accepts" in changes:
        if listing.kind != "need":
            raise Refusal(GENERIC, "only a need accepts other resources", field="accepts")
        changes["accepts"] = changes["accepts"] or []
    try:
        domain.check_window(
            changes.get("available_from", listing.available_from),
            changes.get("available_until", listing.available_until),
        )
    except ValueError as exc:
        raise _at("available_until", exc) from None
    quantity = changes.get("quantity")
    if quantity is not None:
        most = max(reserved.values(), default=Decimal(0))
        if quantity < most:
            per = "" if listing.frequency == "once" else " in one period"
            raise Refusal(
                "listing.quantity_below_reserved",
                f"contracts already reserve {most.normalize():f} {listing.unit}{per}; "
                "the quantity cannot go below that",
                field="quantity",
                reserved=most,
                unit=listing.unit,
            )
        start = max(today or date.today(), changes.get("available_from") or listing.available_from)
        changes["remaining_quantity"] = periods.remaining(
            quantity, reserved, listing.frequency, start
        )
        changes["quantity_base"] = to_base(quantity, listing.unit)
        if listing.status == "reserved" and changes["remaining_quantity"] > 0:
            changes["status"] = "open"
    return changes
