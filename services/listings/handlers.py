"""Kafka subscribers of the listings service: agreed contracts reserve quantity."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.listings import standing, storage
from services.listings.config import ListingsSettings
from services.listings.outbox import publish_event
from services.listings.rules import (
    facts,
    in_listing_unit,
    refusal,
    remaining_after,
    shares_of,
    status_after_releasing,
    status_after_reserving,
)
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
    ReasonDetail,
    Topic,
)
from shared.kafka import subscribe

GROUP = "listings"


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
                    reason=reason.message,
                    reason_detail=ReasonDetail(code=reason.code, params=reason.params),
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
        updated = await storage.update_listing(
            conn,
            listing_id,
            {"remaining_quantity": remaining, "status": status_after_reserving(listing, remaining)},
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
        if updated.status == "open" and await _on_the_exchange(conn, updated):
            await publish_event(
                conn,
                None,
                ListingUpdated(
                    **facts(updated, await storage.shares_terms(conn, updated.company_id)),
                    updated_at=updated.updated_at,
                    changed=("remaining_quantity",),
                ),
                listing_id,
                correlation_id=envelope.correlationid,
            )


async def _on_the_exchange(conn: Connection, listing: storage.ListingRow) -> bool:
    """Whether the matcher should hear of the open listing's new amount: not while its
    company is suspended (its listings are withdrawn; reinstating publishes them as they
    are then)."""
    status, _ = await storage.company_status(conn, listing.company_id)
    return standing.may_trade(status)


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
        changes = {
            "remaining_quantity": remaining_after(listing, taken),
            "status": status_after_releasing(listing),
        }
        updated = await storage.update_listing(conn, listing_id, changes)
        if updated.status == "open" and await _on_the_exchange(conn, updated):
            await publish_event(
                conn,
                None,
                ListingUpdated(
                    **facts(updated, await storage.shares_terms(conn, updated.company_id)),
                    updated_at=updated.updated_at,
                    changed=("remaining_quantity",),
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
