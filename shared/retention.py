"""What each service keeps of its plumbing, and for how long: the outbox's sent rows, the
ids of the events it has applied, and the answers it keeps for Idempotency-Keys.

A worker (on ``shared.workers``) prunes them every ``retention_check_seconds``, in batches
so that no delete holds a table for long. The windows are settings; an applied event's id
must be kept longer than the event can come back (the broker keeps a topic's events for
``kafka_log_retention_days``, and an outbox row may be published again until it is marked
sent), so the settings refuse a shorter window.
"""

from __future__ import annotations

import asyncio

import structlog

from shared.db import Pool
from shared.idempotency import KEPT_HOURS
from shared.settings import Settings

log = structlog.get_logger(__name__)

BATCH = 5_000


async def _in_batches(pool: Pool, table: str, condition: str, *args: object) -> int:
    """Delete the rows of ``table`` that meet ``condition``, ``BATCH`` at a time."""
    deleted = 0
    while True:
        async with pool.acquire() as conn:
            status = await conn.execute(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {table} WHERE {condition} LIMIT {BATCH}))",
                *args,
            )
        count = int(status.rsplit(" ", 1)[-1])
        deleted += count
        if count < BATCH:
            return deleted


async def prune(pool: Pool, settings: Settings) -> dict[str, int]:
    """One round: how many rows went from each table."""
    return {
        "outbox": await _in_batches(
            pool,
            "outbox",
            "sent_at < now() - make_interval(days => $1)",
            settings.outbox_retention_days,
        ),
        "processed_events": await _in_batches(
            pool,
            "processed_events",
            "processed_at < now() - make_interval(days => $1)",
            settings.processed_event_retention_days,
        ),
        "idempotency_keys": await _in_batches(
            pool, "idempotency_keys", "created_at < now() - make_interval(hours => $1)", KEPT_HOURS
        ),
    }


async def prune_periodically(pool: Pool, settings: Settings) -> None:
    """The retention worker of every service."""
    while True:
        pruned = await prune(pool, settings)
        if any(pruned.values()):
            log.info("pruned", **pruned)
        await asyncio.sleep(settings.retention_check_seconds)
