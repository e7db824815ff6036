"""The idempotent consumer: an event's effects and its id are committed together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.db import Connection, Pool
from shared.events import Envelope

Effect = Callable[[Connection], Awaitable[None]]


async def apply_once(
    pool: Pool, consumer: str, topic: str, envelope: Envelope, effect: Effect
) -> bool:
    """Run ``effect`` in a transaction that also records the event id for ``consumer``.

    Returns False, doing nothing, when the event was already applied: a redelivery.
    """
    async with pool.acquire() as conn, conn.transaction():
        first_time = await conn.fetchval(
            """
            INSERT INTO processed_events (consumer, event_id, topic) VALUES ($1, $2, $3)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            consumer,
            envelope.id,
            topic,
        )
        if not first_time:
            return False
        await effect(conn)
        return True
