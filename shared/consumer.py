"""The idempotent consumer: an event's effects and its id are committed together.

A consumer handles the records of one poll as a batch (``shared.kafka.subscribe``): inside
``batch()`` every ``apply_once`` of that pool shares one connection and one transaction,
committed once at the end, before the batch's offsets are. Outside a batch each event has a
transaction of its own.

A batch that knows its events' ids records them as applied for the first consumer that
applies one, all in one statement, and each ``apply_once`` of that consumer then takes its
event's claim from what that statement inserted (an id it found there already was applied
before: a redelivery). Events of the batch that consumer's handlers do not apply (one they
skip by its content) are recorded with them: their redelivery would be skipped as well.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

from asyncpg.transaction import Transaction

from shared.db import CommitRolledBack, Connection, Pool
from shared.events import Envelope

Effect = Callable[[Connection], Awaitable[None]]

_RECORD = """
    INSERT INTO processed_events (consumer, event_id, topic) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING RETURNING true
"""
_RECORD_ALL = """
    INSERT INTO processed_events (consumer, event_id, topic)
    SELECT $1, event_id, $3 FROM unnest($2::uuid[]) AS event_id
    ON CONFLICT DO NOTHING RETURNING event_id
"""


class BatchAborted(RuntimeError):
    """The batch's transaction could not commit (a statement failed inside it and was caught):
    nothing of it was kept."""


class Batch:
    """One transaction for the events of one consumer batch, opened on the first
    ``apply_once`` (a batch of skipped records never touches the database)."""

    def __init__(self, event_ids: Sequence[uuid.UUID] = ()) -> None:
        self.pool: Pool | None = None
        self.conn: Any = None
        self._tx: Transaction | None = None
        self.applied = 0
        self._ids = frozenset(event_ids)
        self._claimer: str | None = None  # the consumer the batch's ids were recorded for
        self._claimed: set[uuid.UUID] = set()  # recorded by that statement, not yet applied

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

    async def claim(self, conn: Connection, consumer: str, topic: str, event_id: uuid.UUID) -> bool:
        """Record ``event_id`` as applied by ``consumer``; False when it was already."""
        if len(self._ids) > 1 and event_id in self._ids and self._claimer in (None, consumer):
            if self._claimer is None:
                self._claimer = consumer
                rows = await conn.fetch(_RECORD_ALL, consumer, list(self._ids), topic)
                self._claimed = {row["event_id"] for row in rows}
            if event_id not in self._claimed:
                return False
            self._claimed.discard(event_id)
            return True
        return bool(await conn.fetchval(_RECORD, consumer, event_id, topic))

    async def commit(self) -> None:
        if self._tx is None:
            return
        # PostgreSQL answers COMMIT of a transaction in which a statement failed with a
        # rollback, not an error: a failure an effect caught would lose the whole batch with
        # its offsets committed. The pool's connections raise CommitRolledBack for it.
        tx, self._tx = self._tx, None
        try:
            await tx.commit()
        except CommitRolledBack as exc:
            raise BatchAborted(f"the batch's transaction failed: {exc}") from exc

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
async def batch(event_ids: Sequence[uuid.UUID] = ()) -> AsyncIterator[Batch]:
    """Every ``apply_once`` inside (of one pool) shares one transaction, committed when the
    block ends without an error and rolled back (all of it) when it raises. ``event_ids``:
    the batch's events, recorded as applied in one statement (the module says how)."""
    current = Batch(event_ids)
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
        if not await current.claim(conn, consumer, topic, envelope.id):
            return False
        await effect(conn)
        current.applied += 1
        return True
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(_RECORD, consumer, envelope.id, topic):
            return False
        await effect(conn)
        # An effect that caught a failed statement left the transaction aborted: its COMMIT
        # raises CommitRolledBack (``shared.db.PooledConnection``), as a batch's does, so
        # nothing is taken for applied.
        return True
