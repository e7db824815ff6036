"""A consumer's batch on a real PostgreSQL (issue 19): the events of one poll are applied in
one transaction, committed once; a failure rolls all of it back and the events go one by
one, each once; a transaction that failed unseen is never taken for a committed one.
Records come from FastStream's in-memory broker (the same on the real broker:
tests/e2e/test_delivery_guarantees.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.consumer import BatchAborted, apply_once, batch
from shared.db import Connection, Pool, create_pool
from shared.events import Envelope, Payload, Topic, TradeProposed
from shared.kafka import EventHandler, subscribe
from shared.migrations import migrate
from shared.settings import Settings

pytestmark = pytest.mark.integration

SETTINGS = Settings(kafka_bootstrap_servers="in-memory:9092", kafka_namespace="batches.")
TOPIC = "batches." + Topic.PROPOSALS


@pytest.fixture
async def pool(database_url: str, tmp_path: Path) -> AsyncIterator[Pool]:
    (tmp_path / "0001_effects.sql").write_text(
        "CREATE TABLE effects (event_id uuid, tx bigint, at timestamptz DEFAULT clock_timestamp());"
    )
    schema = f"batches_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url, schema, max_size=4)
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await migrate(conn, schema, tmp_path)
    yield pool
    await pool.close()


def proposed(time: datetime | None = None) -> Envelope:
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
    return Envelope.wrap(payload, source="/tests", subject=payload.proposal_id, time=time)


async def record(conn: Connection, envelope: Envelope) -> None:
    await conn.execute("INSERT INTO effects VALUES ($1, txid_current())", envelope.id)


async def effects(pool: Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT event_id, tx FROM effects ORDER BY at")


async def publish(broker: KafkaBroker, *events: Envelope) -> None:
    async with TestKafkaBroker(broker) as test:
        await test.publish_batch(
            *(event.to_bytes() for event in events),
            topic=TOPIC,
            headers={"ce_type": TradeProposed.event_type},
        )


async def test_the_events_of_a_batch_are_applied_in_one_transaction_each_once(
    pool: Pool,
) -> None:
    broker = KafkaBroker("in-memory:9092")

    async def on_proposed(envelope: Envelope, payload: Payload) -> None:
        await apply_once(pool, "batcher", TOPIC, envelope, lambda c: record(c, envelope))

    handlers: dict[type[Payload], EventHandler] = {TradeProposed: on_proposed}
    subscribe(broker, SETTINGS, Topic.PROPOSALS, group_id="b", handlers=handlers)
    first, second, third = proposed(), proposed(), proposed()
    await publish(broker, first, second, first, third)  # the first again: a redelivery
    rows = await effects(pool)
    assert [r["event_id"] for r in rows] == [first.id, second.id, third.id]
    assert len({r["tx"] for r in rows}) == 1  # one transaction, one commit
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 3


async def test_a_failure_rolls_the_batch_back_and_its_events_go_one_by_one(
    pool: Pool,
) -> None:
    broker = KafkaBroker("in-memory:9092")
    first, second, third = proposed(), proposed(), proposed()
    calls: list[uuid.UUID] = []

    async def on_proposed(envelope: Envelope, payload: Payload) -> None:
        async def effect(conn: Connection) -> None:
            calls.append(envelope.id)
            await record(conn, envelope)
            if envelope.id == second.id and calls.count(second.id) == 1:
                raise RuntimeError("a failure the first time only")

        await apply_once(pool, "batcher", TOPIC, envelope, effect)

    handlers: dict[type[Payload], EventHandler] = {TradeProposed: on_proposed}
    subscribe(broker, SETTINGS, Topic.PROPOSALS, group_id="b", handlers=handlers)
    await publish(broker, first, second, third)
    # the batch ran to the failure, was rolled back, and then each event went on its own
    assert calls == [first.id, second.id, first.id, second.id, third.id]
    rows = await effects(pool)
    assert [r["event_id"] for r in rows] == [first.id, second.id, third.id]  # each once
    assert len({r["tx"] for r in rows}) == 3


async def test_a_batch_whose_transaction_failed_unseen_keeps_nothing(pool: Pool) -> None:
    """An effect that catches a failed statement leaves the transaction aborted; PostgreSQL
    would answer its COMMIT with a rollback, silently. The batch says so instead."""
    first, second = proposed(), proposed()

    async def swallowing(conn: Connection) -> None:
        await record(conn, second)
        with contextlib.suppress(asyncpg.DivisionByZeroError):
            await conn.execute("SELECT 1 / 0")  # the transaction is now aborted

    with pytest.raises(BatchAborted):
        async with batch():
            await apply_once(pool, "batcher", TOPIC, first, lambda c: record(c, first))
            await apply_once(pool, "batcher", TOPIC, second, swallowing)
    assert await effects(pool) == []
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 0
    # the pool's connection came back clean
    async with batch():
        assert await apply_once(pool, "batcher", TOPIC, first, lambda c: record(c, first))
    assert [r["event_id"] for r in await effects(pool)] == [first.id]


async def test_an_event_whose_transaction_failed_unseen_is_not_applied(pool: Pool) -> None:
    """The same outside a batch (an event applied on its own, as after a failed batch): the
    effect's failure is raised, not committed away."""
    event = proposed()

    async def swallowing(conn: Connection) -> None:
        await record(conn, event)
        with contextlib.suppress(asyncpg.DivisionByZeroError):
            await conn.execute("SELECT 1 / 0")

    with pytest.raises(asyncpg.InFailedSQLTransactionError):
        await apply_once(pool, "single", TOPIC, event, swallowing)
    assert await effects(pool) == []
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 0
    assert await apply_once(pool, "single", TOPIC, event, lambda c: record(c, event))
    assert [r["event_id"] for r in await effects(pool)] == [event.id]


async def test_a_batch_that_applies_nothing_opens_no_transaction(pool: Pool) -> None:
    async with batch() as current:
        pass
    assert current.conn is None and current.applied == 0


async def test_a_batch_records_its_events_as_applied_in_one_statement(
    pool: Pool, database_url: str
) -> None:
    """The batch's ids are recorded for its consumer at once; an id recorded before is a
    redelivery, skipped; another consumer applying an event of the batch records its own."""
    schema = await pool.fetchval("SELECT current_schema()")
    one = await create_pool(database_url, schema, min_size=1, max_size=1)
    try:
        first, second, third = proposed(), proposed(), proposed()
        assert await apply_once(one, "batcher", TOPIC, first, lambda c: record(c, first))
        async with one.acquire() as conn:
            raw = conn._con  # type: ignore[attr-defined]  # the pool's one connection
        seen: list[str] = []
        raw.add_query_logger(lambda logged: seen.append(logged.query))
        applied = []
        async with batch([first.id, second.id, third.id]):
            for event in (first, second, third):
                applied.append(
                    await apply_once(one, "batcher", TOPIC, event, lambda c, e=event: record(c, e))
                )
            assert await apply_once(one, "auditor", TOPIC, second, lambda c: record(c, second))
        await asyncio.sleep(0.05)  # query loggers are called soon after, not at once
        assert applied == [False, True, True]
        assert len([q for q in seen if "processed_events" in q]) == 2, seen  # batcher, auditor
        rows = await effects(pool)
        assert [r["event_id"] for r in rows] == [first.id, second.id, third.id, second.id]
        assert await pool.fetchval("SELECT count(*) FROM processed_events") == 4
    finally:
        await one.close()


def polled(partition: int, offset: int, event: Envelope) -> ConsumerRecord[bytes, bytes]:
    """A record of ``TOPIC`` as a poll of the real broker hands it over."""
    body = event.to_bytes()
    return ConsumerRecord(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=body,
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=len(body),
        headers=[("ce_type", TradeProposed.event_type.encode())],
    )


async def test_a_poll_is_handled_in_the_order_its_events_were_made_across_partitions(
    pool: Pool,
) -> None:
    """A poll hands its partitions' records over one partition after the other, whatever
    the order they were published in: the events of different partitions go in the order
    they were made (an offer before the need that completes it, as a matcher must see them),
    and each partition's in its own order, which Kafka guarantees, even against their times."""
    broker = KafkaBroker("in-memory:9092")
    handled: list[uuid.UUID] = []

    async def on_proposed(envelope: Envelope, payload: Payload) -> None:
        async def effect(conn: Connection) -> None:
            handled.append(envelope.id)
            await record(conn, envelope)

        await apply_once(pool, "batcher", TOPIC, envelope, effect)

    handlers: dict[type[Payload], EventHandler] = {TradeProposed: on_proposed}
    subscribe(broker, SETTINGS, Topic.PROPOSALS, group_id="b", handlers=handlers)
    at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    offer, need = proposed(at), proposed(at + timedelta(milliseconds=30))
    # partition 0 keeps its offsets' order though its second event says it was made first
    zero_first, zero_second = proposed(at + timedelta(seconds=2)), proposed(at)
    one_first, one_second = proposed(at + timedelta(seconds=1)), proposed(at + timedelta(seconds=3))
    async with TestKafkaBroker(broker):
        (subscriber,) = broker.subscribers
        await subscriber.process_message([polled(0, 7, need), polled(2, 4, offer)])
        assert handled == [offer.id, need.id]
        handled.clear()
        await subscriber.process_message(
            [
                polled(0, 8, zero_first),
                polled(0, 9, zero_second),
                polled(1, 5, one_first),
                polled(1, 6, one_second),
            ]
        )
    assert handled == [one_first.id, zero_first.id, zero_second.id, one_second.id]
    rows = await effects(pool)
    assert len({r["tx"] for r in rows[2:]}) == 1  # still one batch, one transaction
