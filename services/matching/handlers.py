"""Kafka subscribers of the matching service."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence

import asyncpg
import structlog
from faststream.kafka import KafkaBroker

from services.matching import storage
from services.matching.config import MatchingSettings
from services.matching.domain import (
    OpenListing,
    Proposal,
    fits,
    index_version,
    locks_for,
)
from services.matching.matcher import shortlist
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import (
    Envelope,
    ListingPublished,
    ListingReserved,
    ListingUpdated,
    ListingWithdrawn,
    Payload,
    ReasonDetail,
    Topic,
    TradeProposed,
    TradeRetracted,
)
from shared.kafka import subscribe
from shared.outbox import enqueue
from shared.reasons import render

SOURCE = "/services/matching"
GROUP = "matching"
log = structlog.get_logger(__name__)


async def announce(conn: Connection, event: Payload, subject: uuid.UUID, cause: Envelope) -> None:
    await enqueue(
        conn,
        Topic.PROPOSALS,
        Envelope.wrap(event, source=SOURCE, subject=subject, correlation_id=cause.correlationid),
    )


async def retract_one(
    conn: Connection,
    row: storage.ProposalRow,
    reason: ReasonDetail,
    correlation_id: str | uuid.UUID | None,
) -> bool:
    """Retract one open proposal and say so; False if it was no longer open."""
    text = render(reason.code, reason.params, "en")
    retracted_at = await storage.retract(conn, row.id, text)
    if retracted_at is None:
        return False
    row = dataclasses.replace(row, retract_reason=text, retracted_at=retracted_at)
    await enqueue(
        conn,
        Topic.PROPOSALS,
        Envelope.wrap(
            retraction(row, reason),
            source=SOURCE,
            subject=row.id,
            correlation_id=correlation_id,
        ),
    )
    return True


async def retract_all(
    conn: Connection, listing_id: uuid.UUID, reason: ReasonDetail, cause: Envelope
) -> None:
    """Retract every open proposal of the listing and say so."""
    for row in await storage.open_proposals_of(conn, listing_id):
        await retract_one(conn, row, reason, cause.correlationid)


def retraction(row: storage.ProposalRow, reason: ReasonDetail | None = None) -> TradeRetracted:
    return TradeRetracted(
        proposal_id=row.id,
        offer_id=row.offer_id,
        need_id=row.need_id,
        supplier_company_id=row.supplier_company_id,
        receiver_company_id=row.receiver_company_id,
        title=row.offer_title or "a proposed trade",
        reason=row.retract_reason,
        reason_detail=reason,
        retracted_at=row.retracted_at,
    )


async def expire_proposals(pool: Pool, settings: MatchingSettings) -> int:
    """Expire one batch of unanswered proposals and tell their parties; how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await storage.expire_proposals(conn, settings.proposal_expiry_hours)
        for row in rows:
            await enqueue(
                conn,
                Topic.PROPOSALS,
                Envelope.wrap(retraction(row, expiry(settings)), source=SOURCE, subject=row.id),
            )
    return len(rows)


def expiry(settings: MatchingSettings) -> ReasonDetail:
    return ReasonDetail(
        code="retract.expired", params={"days": round(settings.proposal_expiry_hours / 24, 2)}
    )


async def rekey(pool: Pool, batch: int = 500) -> int:
    """Re-key the index rows built from another knowledge base; how many."""
    version = index_version()
    done = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            stale = await storage.stale_keys(conn, version, batch)
            for listing in stale:
                await storage.set_keys(conn, listing, sorted(listing.keys), version)
        done += len(stale)
        if len(stale) < batch:
            return done


async def rekey_on_start(pool: Pool, settings: MatchingSettings) -> None:
    """Once at start: a matcher with a new knowledge base re-keys the index it inherits, so
    listings indexed before are found by the new rules. Idle afterwards."""
    while True:
        try:
            found = await rekey(pool)
            if found:
                log.info("re-keyed the index for the knowledge base", listings=found)
            break
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("re-keying the index failed, will retry", error=repr(exc))
            await asyncio.sleep(5)
    await asyncio.Event().wait()


async def expire_periodically(pool: Pool, settings: MatchingSettings) -> None:
    """Runs in every matching instance; SKIP LOCKED shares the batches between them."""
    every = min(60.0, settings.proposal_expiry_hours * 3600 / 10)
    while True:
        try:
            while await expire_proposals(pool, settings) >= 100:
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("expiring proposals failed, will retry", error=repr(exc))
        await asyncio.sleep(every)


async def match_listing(
    conn: Connection,
    listing: OpenListing,
    settings: MatchingSettings,
    cause: Envelope,
    changed: Sequence[str] | None = None,
) -> list[Proposal]:
    """Index an opened or changed listing and propose its best counterparts, announcing
    each new proposal; for a change, retract its proposals that no longer make the cut.
    Returns the proposals that stand for it, best first."""
    await storage.lock_resources(conn, locks_for(listing))
    await storage.index_listing(conn, listing, index_version())
    found = await shortlist(
        conn, listing, settings.max_proposals_per_listing, settings.haulage_ore_per_tkm
    )
    best = found.best()
    for proposal in best:
        if await storage.insert_proposal(conn, proposal):
            await announce(conn, proposed(proposal), proposal.proposal_id, cause)
    if changed is not None:
        params = {"title": listing.title, "changed": list(changed)}
        standing = {p.proposal_id for p in best}
        for row in await storage.open_proposals_of(conn, listing.listing_id):
            if row.id in standing:
                continue
            if row.origin == "optimiser":
                code = "retract.plan_changed"
            elif await still_fits(conn, listing, row):
                code = "retract.outranked"
            else:
                code = "retract.no_fit"
            reason = ReasonDetail(code=code, params=params)
            await retract_one(conn, row, reason, cause.correlationid)
    return best


async def still_fits(conn: Connection, listing: OpenListing, row: storage.ProposalRow) -> bool:
    """Whether the pair of an open proposal of ``listing`` still makes a trade."""
    other_id = row.need_id if listing.kind == "offer" else row.offer_id
    other = await storage.open_listing(conn, other_id)
    if other is None or other.kind == listing.kind:
        return False
    return fits(*((listing, other) if listing.kind == "offer" else (other, listing)))


def proposed(proposal: Proposal) -> TradeProposed:
    return TradeProposed(
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
        reason_details=proposal.details,
        value=proposal.value,
        origin=proposal.origin,
        plan_id=proposal.plan_id,
    )


def register(broker: KafkaBroker, pool: Pool, settings: MatchingSettings) -> None:
    async def on_listing_opened(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ListingPublished | ListingUpdated)
        listing = OpenListing.of(payload)

        async def effect(conn: Connection) -> None:
            changed = payload.changed if isinstance(payload, ListingUpdated) else None
            await match_listing(conn, listing, settings, envelope, changed)

        await apply_once(pool, GROUP, Topic.LISTINGS, envelope, effect)

    async def on_listing_closed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ListingWithdrawn | ListingReserved)
        if isinstance(payload, ListingReserved) and payload.remaining_quantity > 0:
            return  # still open with what remains; listing.updated carries the new amount
        reason = ReasonDetail(
            code="retract.withdrawn"
            if isinstance(payload, ListingWithdrawn)
            else "retract.reserved"
        )

        async def effect(conn: Connection) -> None:
            await storage.unindex_listing(conn, payload.listing_id)
            await retract_all(conn, payload.listing_id, reason, envelope)

        await apply_once(pool, GROUP, Topic.LISTINGS, envelope, effect)

    subscribe(
        broker,
        settings,
        Topic.LISTINGS,
        group_id=GROUP,
        handlers={
            ListingPublished: on_listing_opened,
            ListingUpdated: on_listing_opened,
            ListingWithdrawn: on_listing_closed,
            ListingReserved: on_listing_closed,
        },
    )
