"""The park office's dead-letter console on the real Apache Kafka, as the service that owns
the topic sees it with its own principal: dead letters listed with their reason, one
replayed onto the topic it came from (and nowhere else), consumer groups' lag."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from shared.events import Topic
from shared.kafka import client_options
from shared.operations import Operations
from shared.settings import Settings
from tests.support import Infra, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def service_settings(infra: Infra, tmp_path: Path) -> Settings:
    namespace = "ops" + uuid.uuid4().hex[:8] + "."
    settings = infra.kafka_settings(namespace, infra.provision(namespace, tmp_path / "credentials"))
    # New SCRAM credentials take a moment to reach the broker's authenticator.
    deadline = time.monotonic() + 30
    while True:
        operations = Operations(settings, "listings")
        try:
            await operations.lag()
            return settings
        except KafkaConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await operations.close()


async def test_dead_letters_are_listed_and_replayed_by_the_topics_owner(
    infra: Infra, service_settings: Settings
) -> None:
    namespace = service_settings.kafka_namespace
    origin = namespace + Topic.LISTINGS.value
    producer = AIOKafkaProducer(acks="all", **infra.admin_client_options())
    await producer.start()
    try:
        await producer.send_and_wait(
            origin + ".dlq",
            b'{"id": "e-1", "type": "listing.published", "subject": "l-1"}',
            key=b"l-1",
            headers=[
                ("dlq-reason", b"poison: not valid"),
                ("dlq-origin-topic", origin.encode()),
                ("dlq-origin-partition", b"0"),
                ("dlq-origin-offset", b"7"),
                ("dlq-consumer-group", (namespace + "matching").encode()),
                ("dlq-failed-at", b"2026-12-01T10:00:00+00:00"),
                ("ce_id", b"e-1"),
            ],
        )
    finally:
        await producer.stop()

    started = time.monotonic()
    listings = Operations(service_settings, "listings")
    contracts = Operations(service_settings, "contracts")
    [letter] = await listings.dead_letters()
    assert time.monotonic() - started < 8, "reading a short dead-letter topic takes seconds"
    assert (letter.origin_topic, letter.consumer_group) == (Topic.LISTINGS.value, "matching")
    assert (letter.reason, letter.event_type, letter.event_id) == (
        "poison: not valid",
        "listing.published",
        "e-1",
    )
    assert (letter.cause, letter.attempts) == ("unreadable", None)
    # Other services own no part of it.
    assert await contracts.dead_letters() == []
    await contracts.close()

    replayed = await listings.replay(letter.partition, letter.offset)
    await listings.close()
    assert replayed.replayed_at is not None
    [record] = await read_topic(infra, origin)
    assert record.value == b'{"id": "e-1", "type": "listing.published", "subject": "l-1"}'
    headers = dict(record.headers)
    assert headers["ce_id"] == b"e-1" and "dlq-reason" not in headers
    where = f"{Topic.LISTINGS.value}.dlq/{letter.partition}/{letter.offset}"
    assert headers["replayed-from"] == where.encode()


async def test_a_services_consumer_lag_is_told_by_partition(
    infra: Infra, service_settings: Settings
) -> None:
    namespace = service_settings.kafka_namespace
    topic = namespace + Topic.CONTRACTS.value
    producer = AIOKafkaProducer(acks="all", **infra.admin_client_options())
    await producer.start()
    try:
        for _ in range(3):
            await producer.send_and_wait(topic, b"{}", key=b"k", partition=0)
    finally:
        await producer.stop()
    # The listings service's group has processed one of the three.
    consumer = AIOKafkaConsumer(
        group_id=namespace + "listings",
        enable_auto_commit=False,
        **client_options(service_settings, "listings"),
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 1})
    finally:
        await consumer.stop()
    operations = Operations(service_settings, "listings")
    try:
        rows = await operations.lag()
    finally:
        await operations.close()
    [row] = [r for r in rows if r.topic == Topic.CONTRACTS.value and r.partition == 0]
    assert (row.group, row.committed, row.end, row.lag) == ("listings", 1, 3, 2)


async def test_the_kafka_clients_are_kept_open_and_opened_again_after_a_failure(
    service_settings: Settings,
) -> None:
    """Signing in to the broker for every question made the console's system health slow
    (408 ms): one admin client and one offsets consumer serve every question."""
    operations = Operations(service_settings, "listings")
    try:
        for _ in range(3):
            await operations.lag()
            assert await operations.dead_letters() == []
        assert operations.connects == 1
        # A client that fails (a broker restarted): the question is asked again on newly
        # opened ones, and the failed ones are closed.
        admin, _offsets = await operations._clients()

        async def fails(*args: object) -> None:
            raise KafkaConnectionError("the broker went")

        admin.list_consumer_groups = fails
        rows = await operations.lag()
        assert operations.connects == 2 and isinstance(rows, list)
        assert admin._closed and (await operations._clients())[0] is not admin
    finally:
        await operations.close()
    assert operations._admin is None and operations._offsets is None
    await operations.lag()  # a question after close opens them once more
    assert operations.connects == 3
    await operations.close()
