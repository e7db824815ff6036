"""The idempotent consumer: an event's effects and its id are committed together.

A consumer handles the records of one poll as a batch (``shared.kafka.subscribe``): inside
``batch()`` every ``apply_once`` of that pool shares one connection and one transaction,
committed once at the end, before the batch's offsets are. Outside a batch each event has a
transaction of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from asyncpg.transaction import Transaction

from shared.db import Connection, Pool
from shared.events import Envelope

Effect = Callable[[Connection], Awaitable[None]]

_RECORD = """
    INSERT INTO processed_events (consumer, event_id, topic) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING RETURNING true
"""


class BatchAborted(RuntimeError):
    """The batch's transaction could not commit (a statement failed inside it and was caught):
    nothing of it was kept."""


class Batch:
    """One transaction for the events of one consumer batch, opened on the first
    ``apply_once`` (a batch of skipped records never touches the database)."""

    def __init__(self) -> None:
        self.pool: Pool | None = None
        self.conn: Any = None
        self._tx: Transaction | None = None
        self.applied = 0

    def joins(self, pool: Pool) -> bool:
        return self.pool is None or self.pool is pool

    async def connection(self, pool: Pool) -> Connection:
        if self.conn is None:
            self.pool = pool
            self.conn = await pool.acquire()
            self._tx = self.conn.transaction()
            await self._tx.start()
        conn: Connection = self.conn
        return conn

    async def commit(self) -> None:
        if self._tx is None:
            return
        # PostgreSQL answers COMMIT of a transaction in which a statement failed with a
        # rollback, not an error: a failure an effect caught would lose the whole batch with
        # its offsets committed. A statement first says whether the transaction still stands.
        try:
            await self.conn.execute("SELECT 1")
        except Exception as exc:
            raise BatchAborted(f"the batch's transaction failed: {exc!r}") from exc
        await self._tx.commit()
        self._tx = None

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        tx, self._tx = self._tx, None
        if conn is None or self.pool is None:
            return
        try:
            if tx is not None:
                with contextlib.suppress(Exception):  # a lost connection rolls back by itself
                    await tx.rollback()
        finally:
            await self.pool.release(conn)


_BATCH: ContextVar[Batch | None] = ContextVar("consumer_batch", default=None)


@contextlib.asynccontextmanager
async def batch() -> AsyncIterator[Batch]:
    """Every ``apply_once`` inside (of one pool) shares one transaction, committed when the
    block ends without an error and rolled back (all of it) when it raises."""
    current = Batch()
    token = _BATCH.set(current)
    try:
        yield current
        await current.commit()
    finally:
        _BATCH.reset(token)
        await current.close()


async def apply_once(
    pool: Pool, consumer: str, topic: str, envelope: Envelope, effect: Effect
) -> bool:
    """Run ``effect`` in a transaction that also records the event id for ``consumer``
    (the batch's transaction inside ``batch()``).

    Returns False, doing nothing, when the event was already applied: a redelivery.
    """
    current = _BATCH.get()
    if current is not None and current.joins(pool):
        conn = await current.connection(pool)
        if not await conn.fetchval(_RECORD, consumer, envelope.id, topic):
            return False
        await effect(conn)
        current.applied += 1
        return True
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(_RECORD, consumer, envelope.id, topic):
            return False
        await effect(conn)
        # As a batch's commit does: an effect that caught a failed statement left the
        # transaction aborted, whose COMMIT PostgreSQL would answer with a silent rollback.
        # This statement fails instead, so nothing is committed as applied.
        await conn.execute("SELECT 1")
        return True
