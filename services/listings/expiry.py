"""Tells a company, once for each end date, that one of its open listings closes soon."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import structlog

from services.listings import storage
from services.listings.config import ListingsSettings
from services.listings.outbox import publish_event
from shared.db import Pool
from shared.events import ListingExpiring

log = structlog.get_logger(__name__)
BATCH = 100


async def announce_expiring(
    pool: Pool, settings: ListingsSettings, today: date | None = None
) -> int:
    """Announce one batch of listings whose window ends soon; how many."""
    async with pool.acquire() as conn, conn.transaction():
        today = today or await storage.database_today(conn)
        rows = await storage.listings_ending(conn, settings.listing_expiry_notice_days, BATCH)
        for row in rows:
            assert row.available_until is not None  # the query selects only those
            await storage.mark_expiry_warned(conn, row.id, row.available_until)
            await publish_event(
                conn,
                None,
                ListingExpiring(
                    listing_id=row.id,
                    company_id=row.company_id,
                    kind=row.kind,
                    title=row.title,
                    available_until=row.available_until,
                    days_left=max(0, (row.available_until - today).days),
                ),
                row.id,
            )
    return len(rows)


async def announce_periodically(pool: Pool, settings: ListingsSettings) -> None:
    while True:
        try:
            while await announce_expiring(pool, settings) >= BATCH:
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("announcing expiring listings failed, will retry", error=repr(exc))
        await asyncio.sleep(settings.listing_expiry_check_seconds)
