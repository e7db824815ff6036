"""The transactional outbox and its relay.

A service writes an event with ``enqueue`` in the same transaction as the change it
describes; the relay publishes committed rows to Kafka and marks them sent. A crash
between the publish and the mark means the row is published again: consumers
deduplicate by event id (``shared.consumer``), so effects happen once.

Ordering: events of one aggregate share a key and must reach Kafka in the order they
were written. Several relays may run (one per service instance); each claims rows with
``FOR UPDATE SKIP LOCKED`` and publishes a claimed row only when no older unsent row of
the same key is held by another relay, so a key's events are never overtaken. This
relies on writers of one aggregate serialising on the aggregate's row before they
enqueue, so that ids of one key are assigned in commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from shared.db import Connection, Pool, is_alive
from shared.events import Envelope
from shared.observability import PRODUCED, carrier

log = structlog.get_logger(__name__)

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
# The relay's name among the service's background loops (shared.workers).
RELAY = "outbox-relay"
# Woken by a NOTIFY, the relay waits this long before it reads, so that the rows committed
# meanwhile go in the same batch (one transaction and one produce request), not one each.
GATHER_SECONDS = 0.01


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    topic: str
    key: str
    payload: bytes
    headers: dict[str, str]


# Hands a row to the broker; what it returns is awaited for the broker's ack.
Publish = Callable[[OutboxMessage], Awaitable[Awaitable[object]]]


async def enqueue(conn: Connection, topic: str, envelope: Envelope) -> None:
    """Write ``envelope`` to the outbox of the connection's schema; call inside a transaction."""
    # One statement: the row, and a notification delivered at commit that wakes the relays
    # of this schema at once.
    await conn.execute(
        """
        WITH written AS (
            INSERT INTO outbox (event_id, topic, key, payload, headers)
            VALUES ($1, $2, $3, $4, $5) RETURNING id
        )
        SELECT pg_notify('outbox_' || current_schema(), '') FROM written
        """,
        envelope.id,
        topic,
        envelope.subject,
        envelope.to_bytes(),
        # the trace context (traceparent) and correlation id of what is being done, so the
        # consumers' spans and log lines join this request's (shared.observability)
        {**carrier(), "content-type": CLOUDEVENTS_CONTENT_TYPE, "ce_type": envelope.type},
    )


async def backlog(pool: Pool) -> tuple[int, float]:
    """Rows not yet published, and the age in seconds of the oldest (0 when none): for
    readiness and the metrics."""
    row = await pool.fetchrow(
        """
        SELECT count(*) AS unsent, extract(epoch FROM now() - min(created_at)) AS oldest
        FROM outbox WHERE sent_at IS NULL
        """
    )
    assert row is not None
    return int(row["unsent"]), float(row["oldest"] or 0)


class OutboxRelay:
    """Publishes committed outbox rows of one schema, woken by NOTIFY or by a poll."""

    def __init__(
        self,
        pool: Pool,
        publish: Publish,
        *,
        poll_interval: float = 2.0,
        batch_size: int = 100,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._gather_seconds = gather_seconds
        self._wake = asyncio.Event()
        self._channel = ""
        self._listener: PoolConnectionProxy[Any] | None = None

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows; return how many were published."""
        return (await self._publish_batch())[0]

    async def _publish_batch(self) -> tuple[int, int]:
        """Publish one batch of unsent rows: how many were published, and how many were
        claimed (fewer than the batch's size: nothing more was waiting)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # One statement claims the batch and says, for each row, whether an older unsent
            # row of its key is held by another relay (then it waits for that one). A key's
            # ids are assigned in commit order, so the statement's snapshot already holds
            # every older row of a key it claims a row of.
            rows = await conn.fetch(
                """
                WITH claimed AS MATERIALIZED (
                    SELECT id, topic, key, payload, headers FROM outbox
                    WHERE sent_at IS NULL ORDER BY id LIMIT $1
                    FOR UPDATE SKIP LOCKED
                )
                SELECT c.id, c.topic, c.key, c.payload, c.headers,
                       EXISTS (
                           SELECT FROM outbox o
                           WHERE o.sent_at IS NULL AND o.key = c.key AND o.id < c.id
                             AND o.id NOT IN (SELECT id FROM claimed)
                       ) AS older_elsewhere
                FROM claimed c ORDER BY c.id
                """,
                self._batch_size,
            )
            if not rows:
                return 0, 0
            # All of the batch is handed to the producer first, then its acks are awaited:
            # one round of waiting per batch, not per row. The idempotent producer keeps a
            # key's records in order on their partition; if one still fails, the later rows
            # of its key are not marked sent either, and go again after it.
            acks: list[tuple[asyncpg.Record, Awaitable[object]]] = []
            failure: Exception | None = None
            try:
                for row in rows:
                    if row["older_elsewhere"]:
                        continue  # an older event of this key is still with another relay
                    ack = await self._publish(
                        OutboxMessage(
                            id=row["id"],
                            topic=row["topic"],
                            key=row["key"],
                            payload=bytes(row["payload"]),
                            headers=dict(row["headers"]),
                        )
                    )
                    acks.append((row, ack))
            except Exception as exc:  # keep what was published; the rest waits for a retry
                failure = exc
            sent: list[int] = []
            failed_keys: set[str] = set()
            for row, ack in acks:
                try:
                    await ack
                except Exception as exc:
                    failed_keys.add(row["key"])
                    failure = failure or exc
                    continue
                if row["key"] not in failed_keys:
                    sent.append(row["id"])
                    PRODUCED.labels(row["topic"]).inc()
            if sent:
                await conn.execute(
                    "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", sent
                )
        if failure is not None:
            raise failure
        return len(sent), len(rows)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled. A lost connection (the LISTEN one included) is opened
        again, and a failure of the database or the broker is retried with a back-off:
        nothing here ends the relay but cancellation (the worker runtime restarts it if a
        bug does)."""
        backoff = self._poll_interval
        try:
            while True:
                try:
                    if not is_alive(self._listener):
                        await self._drop_listener()
                        self._listener = await self._listen()
                    # Cleared before each read: a row committed after it sets it again, so
                    # the wait below returns at once; a read of less than a full batch
                    # found all there was (no empty read to end each wake-up).
                    while True:
                        self._wake.clear()
                        if (await self._publish_batch())[1] < self._batch_size:
                            break
                    backoff = self._poll_interval
                except Exception as exc:  # the database or the broker; the rows wait
                    log.warning("outbox relay failed, retrying", error=repr(exc), backoff=backoff)
                    await self._drop_listener()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
                if self._wake.is_set() and self._gather_seconds > 0:
                    await asyncio.sleep(self._gather_seconds)
        finally:
            await self._drop_listener()

    async def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(Exception):  # a dead connection cannot be tidied; it goes
            await listener.remove_listener(self._channel, self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(listener)

    async def _listen(self) -> PoolConnectionProxy[Any] | None:
        try:
            conn = await self._pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("outbox relay cannot LISTEN, polling", error=repr(exc))
            return None
        try:
            schema = await conn.fetchval("SELECT current_schema()")
            self._channel = f"outbox_{schema}"
            await conn.add_listener(self._channel, self._on_notify)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("outbox relay cannot LISTEN, polling", error=repr(exc))
            with contextlib.suppress(Exception):
                await self._pool.release(conn)
            return None
        return conn
