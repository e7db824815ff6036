"""Kafka plumbing on FastStream: the broker factory, topics, event subscribers, dead letters.

Delivery rules, set explicitly rather than left to library defaults:
- producers wait for all in-sync replicas (acks=all) and use the idempotent producer
  unless the settings turn it off (only for the embedded broker, which lacks it);
- consumers never auto-commit: a message's offset is committed after its handler
  returned, i.e. after the handler's database transaction committed
  (``AckPolicy.NACK_ON_ERROR``); a handler that raises is redelivered;
- a message that cannot be decoded or validated goes to ``<topic>.dlq`` with the
  reason and origin in headers, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared.events import Envelope, Payload, PoisonMessage, dead_letter_topic, decode, payload_of
from shared.outbox import OutboxMessage
from shared.settings import Settings

log = structlog.get_logger(__name__)

EventHandler = Callable[[Envelope, Payload], Awaitable[None]]

# Failures that say nothing about the message: retried for as long as they last.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
# Any other failure of one message is tried this many times, then dead-lettered.
MAX_ATTEMPTS = 5


def create_broker(settings: Settings, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker with the delivery settings above."""
    return KafkaBroker(
        settings.require_kafka(),
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        request_timeout_ms=15_000,
        retry_backoff_ms=200,
        logger=None,
    )


def outbox_publisher(
    broker: KafkaBroker, namespace: str = ""
) -> Callable[[OutboxMessage], Awaitable[None]]:
    """What the outbox relay calls for each row: publish and wait for the broker's ack."""

    async def publish(message: OutboxMessage) -> None:
        await broker.publish(
            message.payload,
            topic=namespace + message.topic,
            key=message.key.encode(),
            headers=message.headers,
        )

    return publish


async def ensure_topics(settings: Settings, topics: Iterable[str]) -> None:
    """Create the topics (and their dead-letter topics) a service uses, if missing."""
    prefix = settings.kafka_namespace
    names = sorted({prefix + n for t in topics for n in (t, dead_letter_topic(t))})
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.require_kafka(), client_id="symbiosis-admin"
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_replication_factor,
            )
            for name in names
            if name not in existing
        ]
        if missing:
            # Another service instance may have created them a moment ago.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


def subscribe(
    broker: KafkaBroker,
    settings: Settings,
    topic: str,
    *,
    group_id: str,
    handlers: dict[str, EventHandler],
) -> None:
    """Consume ``topic`` in ``group_id``: route known event types to their handlers.

    Events of other types are skipped (a topic carries many types). Poison messages go
    to the dead-letter topic. A handler that keeps failing for a reason other than an
    outage is dead-lettered after ``MAX_ATTEMPTS`` tries so the partition moves on.
    """
    attempts: dict[tuple[int, int], int] = {}
    group_id = settings.kafka_namespace + group_id
    topic = settings.kafka_namespace + topic

    async def on_message(message: KafkaMessage) -> None:
        raw = message.raw_message
        assert not isinstance(raw, tuple)
        position = (raw.partition, raw.offset)
        try:
            envelope = decode(message.body)
            handler = handlers.get(envelope.type)
            if handler is None:
                return
            payload = payload_of(envelope)
        except PoisonMessage as exc:
            await dead_letter(broker, message, group_id, f"poison: {exc}")
            return
        try:
            await handler(envelope, payload)
        except TRANSIENT_ERRORS as exc:
            log.warning("handler outage, will retry", topic=topic, error=repr(exc))
            await asyncio.sleep(1.0)
            raise
        except Exception as exc:
            tries = attempts.get(position, 0) + 1
            if tries >= MAX_ATTEMPTS:
                attempts.pop(position, None)
                log.error("handler failed, dead-lettering", topic=topic, error=repr(exc))
                await dead_letter(
                    broker, message, group_id, f"handler failed {tries} times: {exc!r}"
                )
                return
            attempts[position] = tries
            log.warning("handler failed, will retry", topic=topic, tries=tries, error=repr(exc))
            await asyncio.sleep(0.2 * 2**tries)
            raise
        attempts.pop(position, None)

    on_message.__name__ = f"{group_id}_{topic.replace('.', '_')}"
    broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=f"{group_id}:{topic}",
    )(on_message)


async def dead_letter(broker: KafkaBroker, message: Any, group_id: str, reason: str) -> None:
    """Copy ``message`` to its topic's dead-letter topic with the reason and origin."""
    raw = message.raw_message
    headers = {k: v.decode(errors="replace") for k, v in (raw.headers or ())}
    headers.update(
        {
            "dlq-reason": reason[:1000],
            "dlq-origin-topic": raw.topic,
            "dlq-origin-partition": str(raw.partition),
            "dlq-origin-offset": str(raw.offset),
            "dlq-consumer-group": group_id,
            "dlq-failed-at": datetime.now(UTC).isoformat(),
        }
    )
    log.warning("dead-lettered", topic=raw.topic, offset=raw.offset, reason=reason)
    await broker.publish(
        raw.value or b"",
        topic=dead_letter_topic(raw.topic),
        key=raw.key,
        headers=headers,
    )
