"""Every client authenticated, every client authorised (issue 12, part 2): on the real
Apache Kafka, each service's principal may write only what it produces, read only what it
consumes, in its own consumer groups; the topics exist before anyone writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.broker_admin import BrokerAdmin, BrokerAdminError
from shared.events import Topic
from shared.kafka import client_options
from shared.settings import Settings
from shared.topology import all_topics
from tests.support import Infra

pytestmark = pytest.mark.integration


@pytest.fixture
def service_settings(infra: Infra, tmp_path: Path) -> Settings:
    namespace = "acl" + tmp_path.name[-6:].replace("_", "") + "."
    return infra.kafka_settings(namespace, infra.provision(namespace, tmp_path / "credentials"))


async def write(settings: Settings, principal: str, topic: Topic) -> None:
    producer = AIOKafkaProducer(
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=5000,
        **client_options(settings, principal),
    )
    await producer.start()
    try:
        await asyncio.wait_for(
            producer.send_and_wait(settings.kafka_namespace + topic, b"{}", key=b"k"), 20
        )
    finally:
        await producer.stop()


async def read(settings: Settings, principal: str, topic: Topic, group: str) -> None:
    consumer = AIOKafkaConsumer(
        settings.kafka_namespace + topic,
        group_id=settings.kafka_namespace + group,
        auto_offset_reset="earliest",
        **client_options(settings, principal),
    )
    await consumer.start()
    try:
        for _ in range(3):
            await asyncio.wait_for(consumer.getmany(timeout_ms=2000), 20)
    finally:
        await consumer.stop()


async def test_every_topic_is_made_before_anyone_writes(
    infra: Infra, service_settings: Settings
) -> None:
    prefix = service_settings.kafka_namespace
    admin = BrokerAdmin(infra.kafka_settings(prefix))
    assert await admin.missing_topics(prefix + name for name in all_topics()) == []


async def test_notifications_cannot_write_the_listings_topic(service_settings: Settings) -> None:
    await write(service_settings, "notifications", Topic.NOTIFICATIONS)
    await write(service_settings, "notifications", Topic.PARTNERS)
    with pytest.raises(KafkaError):
        await write(service_settings, "notifications", Topic.LISTINGS)
    await write(service_settings, "listings", Topic.LISTINGS)
    with pytest.raises(KafkaError):
        await write(service_settings, "matching", Topic.CONTRACTS)


async def test_a_service_reads_what_it_consumes_in_its_own_groups(
    service_settings: Settings,
) -> None:
    await read(service_settings, "matching", Topic.LISTINGS, "matching")
    with pytest.raises(KafkaError):  # matching does not read contracts' events
        await read(service_settings, "matching", Topic.CONTRACTS, "matching")
    with pytest.raises(KafkaError):  # nor in another service's group
        await read(service_settings, "matching", Topic.LISTINGS, "contracts")


async def test_only_listings_may_issue_partner_credentials(service_settings: Settings) -> None:
    name = service_settings.kafka_namespace + "partner-probe"
    with pytest.raises(BrokerAdminError):
        await BrokerAdmin(service_settings, "matching").set_password(name, "x" * 20)
    keeper = BrokerAdmin(service_settings, "listings")
    await keeper.set_password(name, "x" * 20)
    await keeper.delete_user(name)


def test_passwords_are_kept_private(service_settings: Settings) -> None:
    folder = service_settings.kafka_credentials_dir
    assert folder is not None
    assert folder.stat().st_mode & 0o777 == 0o700
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
