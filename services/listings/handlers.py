"""Kafka subscribers of the listings service: agreed contracts reserve quantity."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from faststream.kafka import KafkaBroker

from services.listings import storage
from services.listings.api import facts
from services.listings.config import ListingsSettings
from services.listings.outbox import publish_event
from shared import periods
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import (
    ContractAgreed,
    ContractCancelled,
    Envelope,
    ListingReservationRefused,
    ListingReserved,
    ListingUpdated,
    Payload,
    Topic,
)
from shared.kafka import subscribe
from shared.resources import convert_listing

GROUP = "listings"


def shares_of(
    contract: ContractAgreed, listing: storage.ListingRow, wanted: Decimal
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


def in_listing_unit(listing: storage.ListingRow, quantity: Decimal, unit: str) -> Decimal | None:
    """A contract's quantity in the listing's unit: tonnes of steam agreed in MWh reserve
    the tonnes that hold that energy (by the listing's stated pressure and temperature)."""
    resource = listing.ewc_code or f"class:{listing.resource_class}"
    return convert_listing(resource, listing.quality, quantity, unit, listing.unit)


def refusal(
    contract: ContractAgreed,
    listing: storage.ListingRow | None,
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


def remaining_after(listing: storage.ListingRow, taken: dict[date, Decimal]) -> Decimal:
    today = max(date.today(), listing.available_from)
    return periods.remaining(listing.quantity, taken, listing.frequency, today)


async def reserve_for(conn: Connection, envelope: Envelope, contract: ContractAgreed) -> None:
    """Reserve the contract's quantity on its offer and its need, both or neither.

    A contract for more than remains is refused with a ``listing.reservation_refused`` event
    for each listing that lacks it, and nothing is reserved: never silently over-reserved.
    """
    plans = []
    for listing_id in sorted((contract.offer_id, contract.need_id)):  # one lock order
        listing = await storage.listing_for_update(conn, listing_id)
        wanted = in_listing_unit(listing, contract.quantity, contract.unit) if listing else None
        taken = await storage.reserved_by_period(conn, listing_id) if listing else {}
        plans.append(
            (listing_id, listing, wanted, taken, refusal(contract, listing, wanted, taken))
        )
    if any(reason for *_, reason in plans):
        for listing_id, listing, _, _, reason in plans:
            if reason is None:
                continue
            await publish_event(
                conn,
                None,
                ListingReservationRefused(
                    listing_id=listing_id,
                    contract_id=contract.contract_id,
                    requested_quantity=contract.quantity,
                    requested_unit=contract.unit,
                    remaining_quantity=listing.remaining_quantity if listing else None,
                    reason=reason,
                ),
                listing_id,
                correlation_id=envelope.correlationid,
            )
        return
    for listing_id, listing, wanted, _, _ in plans:
        assert listing is not None and wanted is not None
        shares = shares_of(contract, listing, wanted)
        if not await storage.insert_reservation(
            conn, contract.contract_id, listing_id, wanted, shares
        ):
            continue
        remaining = remaining_after(listing, await storage.reserved_by_period(conn, listing_id))
        # A stream renews every period: it stays open for the periods it still has.
        full = remaining == 0 and listing.frequency == "once"
        updated = await storage.update_listing(
            conn,
            listing_id,
            {"remaining_quantity": remaining, "status": "reserved" if full else "open"},
        )
        await publish_event(
            conn,
            None,
            ListingReserved(
                listing_id=listing_id,
                company_id=listing.company_id,
                contract_id=contract.contract_id,
                quantity=wanted,
                unit=listing.unit,
                remaining_quantity=remaining,
                status=updated.status,
            ),
            listing_id,
            correlation_id=envelope.correlationid,
        )
        if updated.status == "open":
            await publish_event(
                conn,
                None,
                ListingUpdated(
                    **facts(updated), updated_at=updated.updated_at, changed=("remaining_quantity",)
                ),
                listing_id,
                correlation_id=envelope.correlationid,
            )


async def release_for(conn: Connection, envelope: Envelope, cancelled: ContractCancelled) -> None:
    """A cancelled contract gives back what it will not take, on both its listings; a listing
    it had reserved in full opens again."""
    for listing_id in sorted((cancelled.offer_id, cancelled.need_id)):
        listing = await storage.listing_for_update(conn, listing_id)
        if listing is None:
            continue
        wanted = in_listing_unit(listing, cancelled.undelivered_quantity, cancelled.unit)
        if wanted is None or wanted <= 0:
            continue
        given = await storage.release_reservation(conn, cancelled.contract_id, listing_id, wanted)
        if given <= 0:
            continue
        taken = await storage.reserved_by_period(conn, listing_id)
        changes: dict[str, Any] = {"remaining_quantity": remaining_after(listing, taken)}
        if listing.status == "reserved":
            changes["status"] = "open"
        updated = await storage.update_listing(conn, listing_id, changes)
        if updated.status == "open":
            await publish_event(
                conn,
                None,
                ListingUpdated(
                    **facts(updated), updated_at=updated.updated_at, changed=("remaining_quantity",)
                ),
                listing_id,
                correlation_id=envelope.correlationid,
            )


def register(broker: KafkaBroker, pool: Pool, settings: ListingsSettings) -> None:
    async def on_contract_agreed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ContractAgreed)

        async def effect(conn: Connection) -> None:
            await reserve_for(conn, envelope, payload)

        await apply_once(pool, GROUP, Topic.CONTRACTS, envelope, effect)

    async def on_contract_cancelled(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ContractCancelled)

        async def effect(conn: Connection) -> None:
            await release_for(conn, envelope, payload)

        await apply_once(pool, GROUP, Topic.CONTRACTS, envelope, effect)

    subscribe(
        broker,
        settings,
        Topic.CONTRACTS,
        group_id=GROUP,
        handlers={
            ContractAgreed: on_contract_agreed,
            ContractCancelled: on_contract_cancelled,
        },
    )
