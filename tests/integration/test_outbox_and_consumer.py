"""The outbox, its relay and the idempotent consumer on a real PostgreSQL."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from shared.consumer import apply_once
from shared.db import Connection, Pool, create_pool
from shared.events import Envelope, TradeProposed
from shared.migrations import migrate
from shared.outbox import OutboxMessage, OutboxRelay, enqueue

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str, tmp_path: Path) -> AsyncIterator[Pool]:
    (tmp_path / "0001_effects.sql").write_text("CREATE TABLE effects (event_id uuid);")
    pool = await create_pool(database_url, "svc", max_size=8)
    async with pool.acquire() as conn:
        await migrate(conn, "svc", tmp_path)
    yield pool
    await pool.close()


def envelope(key: str) -> Envelope:
    payload = TradeProposed(
        proposal_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=uuid.uuid4(),
        receiver_company_id=uuid.uuid4(),
        ewc_code="030105",
        title="Sawdust",
        quantity=1,
        unit="t",
        reasons=("test",),
    )
    return Envelope.wrap(payload, source="test", subject=key)


async def write_events(pool: Pool, keys: list[str]) -> list[Envelope]:
    written = []
    for key in keys:
        event = envelope(key)
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, "topic", event)
        written.append(event)
    return written


async def acked() -> None:
    """The broker's ack for a row, at once."""


async def test_relay_publishes_committed_rows_in_order_and_marks_them(pool: Pool) -> None:
    published: list[OutboxMessage] = []

    async def publish(message: OutboxMessage) -> Awaitable[object]:
        published.append(message)
        return acked()

    events = await write_events(pool, ["a", "b", "a", "c", "a"])
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await enqueue(conn, "topic", envelope("uncommitted"))
        relay = OutboxRelay(pool, publish, batch_size=2)
        while await relay.publish_pending():
            pass
        await tx.rollback()
    assert [Envelope.model_validate_json(m.payload).id for m in published] == [e.id for e in events]
    assert published[0].headers["content-type"].startswith("application/cloudevents+json")
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_a_failed_publish_keeps_the_row_for_the_next_attempt(pool: Pool) -> None:
    attempts: list[str] = []

    async def flaky(message: OutboxMessage) -> Awaitable[object]:
        attempts.append(message.key)
        if message.key == "b" and attempts.count("b") == 1:
            raise ConnectionError("broker away")
        return acked()

    await write_events(pool, ["a", "b", "c"])
    relay = OutboxRelay(pool, flaky)
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    # "a" was published and is marked; "b" and "c" wait
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 2
    assert await relay.publish_pending() == 2
    assert attempts == ["a", "b", "b", "c"]


async def test_a_row_the_broker_does_not_ack_holds_back_the_later_rows_of_its_key(
    pool: Pool,
) -> None:
    handed: list[str] = []

    async def refused(message: OutboxMessage) -> Awaitable[object]:
        handed.append(message.key)
        if message.key == "b" and handed.count("b") == 1:
            return nack()
        return acked()

    async def nack() -> None:
        raise TimeoutError("no ack from the broker")

    await write_events(pool, ["a", "b", "c", "b"])
    relay = OutboxRelay(pool, refused)
    with pytest.raises(TimeoutError):
        await relay.publish_pending()
    # a and c are marked; both rows of b wait, so b's order holds when they go again
    unsent = await pool.fetch("SELECT key FROM outbox WHERE sent_at IS NULL ORDER BY id")
    assert [r["key"] for r in unsent] == ["b", "b"]
    assert await relay.publish_pending() == 2


async def test_several_relays_publish_each_row_once_and_keep_key_order(pool: Pool) -> None:
    published: list[tuple[str, uuid.UUID]] = []

    async def slow_publish(message: OutboxMessage) -> Awaitable[object]:
        await asyncio.sleep(0.002)
        published.append((message.key, Envelope.model_validate_json(message.payload).id))
        return acked()

    keys = [f"k{i % 7}" for i in range(140)]
    events = await write_events(pool, keys)
    relays = [OutboxRelay(pool, slow_publish, batch_size=5) for _ in range(4)]

    async def drain(relay: OutboxRelay) -> None:
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
            await relay.publish_pending()

    await asyncio.gather(*(drain(r) for r in relays))
    ids = [event_id for _, event_id in published]
    assert sorted(ids) == sorted(e.id for e in events)  # each exactly once
    for key in set(keys):
        expected = [e.id for e in events if e.subject == key]
        assert [i for k, i in published if k == key] == expected


async def test_notify_wakes_the_relay_long_before_its_poll(pool: Pool) -> None:
    arrived = asyncio.Event()

    async def publish(message: OutboxMessage) -> Awaitable[object]:
        arrived.set()
        return acked()

    relay = OutboxRelay(pool, publish, poll_interval=60)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.5)  # the relay is now waiting on LISTEN
    started = time.monotonic()
    await write_events(pool, ["x"])
    await asyncio.wait_for(arrived.wait(), timeout=5)
    assert time.monotonic() - started < 5
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_the_poll_finds_rows_when_no_notify_arrives(pool: Pool) -> None:
    arrived = asyncio.Event()

    async def publish(message: OutboxMessage) -> Awaitable[object]:
        arrived.set()
        return acked()

    event = envelope("quiet")
    # A row written without NOTIFY (as if the notification were lost).
    await pool.execute(
        "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, 't', 'quiet', $2)",
        event.id,
        event.to_bytes(),
    )
    relay = OutboxRelay(pool, publish, poll_interval=0.3)
    relay._wake.set = lambda: None  # type: ignore[method-assign]  # deafen it to NOTIFY
    task = asyncio.create_task(relay.run())
    await asyncio.wait_for(arrived.wait(), timeout=5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_an_event_is_applied_once_however_often_it_arrives(pool: Pool) -> None:
    event = envelope("k")

    async def effect(conn: Connection) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1)", event.id)

    results = [await apply_once(pool, "consumer", "topic", event, effect) for _ in range(3)]
    assert results == [True, False, False]
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1
    # another consumer of the same event applies it for itself
    assert await apply_once(pool, "other", "topic", event, effect)


async def test_a_failing_effect_records_nothing(pool: Pool) -> None:
    event = envelope("k")

    async def failing(conn: Connection) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1)", event.id)
        raise RuntimeError("boom")

    async def effect(conn: Connection) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1)", event.id)

    with pytest.raises(RuntimeError):
        await apply_once(pool, "consumer", "topic", event, failing)
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0
    assert await apply_once(pool, "consumer", "topic", event, effect)


def _unused(*_: Any) -> None: ...


async def test_a_wake_up_reads_the_outbox_once_and_misses_no_row(pool: Pool) -> None:
    """A read that claims less than a full batch found all there was: the relay does not
    read again to find nothing (issue 19); a row committed while it publishes still wakes
    it."""
    published: list[str] = []
    reads = 0

    async def publish(message: OutboxMessage) -> Awaitable[object]:
        published.append(message.key)
        if message.key == "first":  # committed while the relay is busy with "first"
            await write_events(pool, ["during"])
        return acked()

    relay = OutboxRelay(pool, publish, poll_interval=60)
    read = relay._publish_batch

    async def counted() -> tuple[int, int]:
        nonlocal reads
        reads += 1
        return await read()

    relay._publish_batch = counted  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # listening, after its first read found nothing
        reads = 0
        await write_events(pool, ["first"])
        deadline = time.monotonic() + 5
        while published != ["first", "during"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert published == ["first", "during"]
        assert reads == 2  # one for each wake-up, none that found nothing
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_rows_committed_together_go_in_one_batch(pool: Pool) -> None:
    """Woken by a NOTIFY, the relay waits a moment before it reads, so that rows committed
    meanwhile share its transaction and produce request (issue 19)."""
    batches: list[int] = []
    published: list[str] = []

    async def publish(message: OutboxMessage) -> Awaitable[object]:
        published.append(message.key)
        return acked()

    relay = OutboxRelay(pool, publish, poll_interval=60, gather_seconds=1.0)
    read = relay._publish_batch

    async def counted() -> tuple[int, int]:
        done = await read()
        if done[1]:
            batches.append(done[1])
        return done

    relay._publish_batch = counted  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # listening
        await write_events(pool, ["a", "b", "a"])  # three transactions, three NOTIFYs
        deadline = time.monotonic() + 5
        while sum(batches) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert published == ["a", "b", "a"]
        assert batches == [3]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
