"""Kafka subscribers of the matching service."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.matching import storage
from services.matching.domain import OpenListing, candidate_resources, locks_for, propose
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import (
    Envelope,
    ListingPublished,
    ListingReserved,
    ListingUpdated,
    ListingWithdrawn,
    Payload,
    Topic,
    TradeProposed,
)
from shared.kafka import subscribe
from shared.outbox import enqueue
from shared.settings import Settings

SOURCE = "/services/matching"
GROUP = "matching"


def register(broker: KafkaBroker, pool: Pool, settings: Settings) -> None:
    async def on_listing_opened(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ListingPublished | ListingUpdated)
        listing = OpenListing(
            listing_id=payload.listing_id,
            company_id=payload.company_id,
            kind=payload.kind,
            ewc_code=payload.ewc_code,
            resource_class=payload.resource_class,
            title=payload.title,
            quantity=payload.remaining_quantity or payload.quantity,
            unit=payload.unit,
            available_from=payload.available_from,
            available_until=payload.available_until,
            quality=tuple(q.model_dump() for q in payload.quality),
            latitude=payload.latitude,
            longitude=payload.longitude,
        )

        async def effect(conn: Connection) -> None:
            await storage.lock_resources(conn, locks_for(listing))
            await storage.index_listing(conn, listing)
            for other in await storage.counterparts(conn, listing, candidate_resources(listing)):
                proposal = propose(listing, other)
                if proposal is None or not await storage.insert_proposal(conn, proposal):
                    continue
                event = TradeProposed(
                    proposal_id=proposal.proposal_id,
                    offer_id=proposal.offer.listing_id,
                    need_id=proposal.need.listing_id,
                    supplier_company_id=proposal.offer.company_id,
                    receiver_company_id=proposal.need.company_id,
                    ewc_code=proposal.offer.ewc_code,
                    resource_class=proposal.offer.resource_class,
                    title=proposal.offer.title,
                    quantity=proposal.quantity,
                    unit=proposal.unit,
                    reasons=proposal.reasons,
                )
                await enqueue(
                    conn,
                    Topic.PROPOSALS,
                    Envelope.wrap(
                        event,
                        source=SOURCE,
                        subject=proposal.proposal_id,
                        correlation_id=envelope.correlationid,
                    ),
                )

        await apply_once(pool, GROUP, Topic.LISTINGS, envelope, effect)

    async def on_listing_closed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ListingWithdrawn | ListingReserved)
        if isinstance(payload, ListingReserved) and payload.remaining_quantity > 0:
            return  # still open with what remains; listing.updated carries the new amount

        async def effect(conn: Connection) -> None:
            await storage.unindex_listing(conn, payload.listing_id)

        await apply_once(pool, GROUP, Topic.LISTINGS, envelope, effect)

    subscribe(
        broker,
        settings,
        Topic.LISTINGS,
        group_id=GROUP,
        handlers={
            ListingPublished.event_type: on_listing_opened,
            ListingUpdated.event_type: on_listing_opened,
            ListingWithdrawn.event_type: on_listing_closed,
            ListingReserved.event_type: on_listing_closed,
        },
    )
