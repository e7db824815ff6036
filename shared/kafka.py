"""Kafka plumbing on FastStream: the broker factory, topics, event subscribers, dead letters.

Delivery rules, set explicitly rather than left to library defaults:
- every client signs in with SASL/SCRAM-SHA-512 as its own principal, which the broker's
  ACLs allow exactly the topics and groups of ``shared.topology``;
- producers wait for all in-sync replicas (acks=all) and use the idempotent producer;
- consumers never auto-commit: a batch's offsets are committed after its handlers
  returned, i.e. after the batch's database transaction committed
  (``AckPolicy.NACK_ON_ERROR``); a handler that raises is redelivered;
- a message that cannot be decoded or validated goes to ``<topic>.dlq`` with the
  reason, its cause and origin in headers, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import heapq
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLScram512

from shared.consumer import batch
from shared.db import DATABASE_LOST
from shared.events import (
    PAYLOAD_TYPES,
    Envelope,
    Payload,
    PoisonCause,
    PoisonMessage,
    dead_letter_topic,
    decode,
    payload_of,
)
from shared.health import membership
from shared.observability import (
    CONSUMED,
    DEAD_LETTERED,
    HANDLER_SECONDS,
    TRACEPARENT,
    consuming,
    failed,
    trace_id_of,
)
from shared.outbox import OutboxMessage, Publish
from shared.settings import Settings

log = structlog.get_logger(__name__)

EventHandler = Callable[[Envelope, Payload], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Event:
    """A record this consumer acts on, decoded, with its handler."""

    record: ConsumerRecord[bytes, bytes]
    envelope: Envelope
    payload: Payload
    handler: EventHandler


def in_the_order_made(events: Sequence[_Event]) -> list[_Event]:
    """The events of one poll in the order they were made: each partition's in the order of
    its offsets (Kafka's order, kept whatever their times say), and between partitions the
    one made first (its envelope's time) first, as a merge. A poll hands its partitions'
    records over one partition after the other, in an order of the client's, not the order
    they were published in: a need published just after its offer, on another partition,
    could come first in the poll, be matched against nothing, and the offer then proposed
    the trade under its own correlation id and trace, not under the need's that completed
    the pair."""
    partitions: dict[int, list[_Event]] = {}
    for event in events:
        partitions.setdefault(event.record.partition, []).append(event)
    if len(partitions) < 2:
        return list(events)
    # heapq.merge only ever takes the head of an input: each partition stays in its order.
    return list(heapq.merge(*partitions.values(), key=lambda event: event.envelope.time))


# Handlers that ride along on a service's own subscription of a topic (``also_handle``).
_RIDERS: weakref.WeakKeyDictionary[KafkaBroker, dict[str, dict[type[Payload], EventHandler]]] = (
    weakref.WeakKeyDictionary()
)


def also_handle(
    broker: KafkaBroker, topic: str, handlers: Mapping[type[Payload], EventHandler]
) -> None:
    """Let the next ``subscribe`` of ``topic`` on ``broker`` (the service's own consumer of
    it) also run ``handlers``, instead of a consumer group of their own reading the whole
    topic again. What no subscription took is given back by ``unclaimed``."""
    _RIDERS.setdefault(broker, {})[topic] = dict(handlers)


def unclaimed(broker: KafkaBroker, topic: str) -> dict[type[Payload], EventHandler]:
    """The handlers of ``also_handle`` that no subscription of ``topic`` took."""
    return _RIDERS.get(broker, {}).pop(topic, {})


def _both(first: EventHandler, then: EventHandler) -> EventHandler:
    """Two handlers of one event type, one after the other (each applies once on its own)."""

    async def handler(envelope: Envelope, payload: Payload) -> None:
        await first(envelope, payload)
        await then(envelope, payload)

    return handler


async def _records(message: StreamMessage[Any]) -> Any:
    """The subscriber's decoder: the poll's records as they came (a tuple), for ``subscribe``
    to decode only those it acts on; FastStream's own decoder would parse every body."""
    return message.raw_message


# Failures that say nothing about the message: retried for as long as they last.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    *DATABASE_LOST,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
# Any other failure of one message is tried this many times, then dead-lettered.
MAX_ATTEMPTS = 5
# Why a message was dead-lettered, as its ``dlq-cause`` header says: a poison message's
# cause, or its handler failing ``MAX_ATTEMPTS`` times (the count in ``dlq-attempts``).
DeadLetterCause = Literal[PoisonCause, "handler_failed"]
DEAD_LETTER_CAUSES: tuple[DeadLetterCause, ...] = (
    "unreadable",
    "unknown_type",
    "invalid_payload",
    "handler_failed",
)
# A consumer that stops heartbeating is out of its group after this long (its partitions go
# to the others); a restarted static member takes them back before that.
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
# Records handled per batch (one offset commit each), and how long a poll waits for them.
BATCH_RECORDS = 200
BATCH_WAIT_MS = 50
# The broker answers a fetch once this much is there or this long has passed: under load a
# consumer fetches (and commits, and opens a transaction) at most about 20 times a second,
# not once for every record; each hop waits at most 50 ms more when the topic is quiet.
FETCH_MIN_BYTES = 64 * 1024
FETCH_MAX_WAIT_MS = 50


def security(settings: Settings, principal: str) -> BaseSecurity | None:
    """How ``principal`` signs in: SASL/SCRAM-SHA-512, over TLS for SASL_SSL."""
    credentials = settings.kafka_credentials(principal)
    if credentials is None:
        return None
    context = None
    if settings.kafka_security_protocol == "SASL_SSL":
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    return SASLScram512(
        username=credentials[0],
        password=credentials[1],
        ssl_context=context,
        use_ssl=context is not None,
    )


def client_options(settings: Settings, principal: str) -> dict[str, Any]:
    """aiokafka's connection settings for ``principal`` (for clients made by hand)."""
    options: dict[str, Any] = {"bootstrap_servers": settings.require_kafka()}
    sasl = security(settings, principal)
    if sasl is not None:
        options |= parse_security(sasl)
    return options


def create_broker(settings: Settings, principal: str) -> KafkaBroker:
    """A FastStream Kafka broker with the delivery settings above, signed in as
    ``principal`` (the service's name)."""
    return KafkaBroker(
        settings.require_kafka(),
        client_id=f"symbiosis-{principal}",
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        request_timeout_ms=15_000,
        retry_backoff_ms=200,
        security=security(settings, principal),
        logger=None,
    )


def outbox_publisher(broker: KafkaBroker, namespace: str = "") -> Publish:
    """What the outbox relay calls for each row: hand it to the producer; the relay awaits
    the returned future for the broker's ack (acks=all)."""

    async def publish(message: OutboxMessage) -> Awaitable[object]:
        ack: Awaitable[object] = await broker.publish(
            message.payload,
            topic=namespace + message.topic,
            key=message.key.encode(),
            headers=message.headers,
            no_confirm=True,
        )
        return ack

    return publish


class MissingTopics(RuntimeError):
    """The service's topics are not there: they are made by `symbiosis up` or
    `symbiosis kafka-setup`, never implicitly."""


async def wait_for_topics(
    settings: Settings, service: str, topics: Iterable[str], within: float = 120.0
) -> None:
    """``check_topics`` until it passes: a service may start before the broker is up and
    its topics and credentials are made (`symbiosis up` starts them side by side)."""
    names = list(topics)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    said = 0.0
    while True:
        try:
            await check_topics(settings, service, names)
            return
        except (MissingTopics, KafkaError, OSError) as exc:
            if loop.time() > deadline:
                raise
            if loop.time() - said > 10:
                log.info("waiting for the broker and the topics", error=repr(exc))
                said = loop.time()
            await asyncio.sleep(0.5)


async def check_topics(settings: Settings, service: str, topics: Iterable[str]) -> None:
    """Refuse to start when a topic ``service`` uses does not exist (or it may not see it)."""
    prefix = settings.kafka_namespace
    wanted = {prefix + name for name in topics}
    admin = AIOKafkaAdminClient(
        client_id=f"symbiosis-{service}", **client_options(settings, service)
    )
    await admin.start()
    try:
        missing = sorted(wanted - set(await admin.list_topics()))
    finally:
        await admin.close()
    if missing:
        raise MissingTopics(
            f"the {service} service cannot find the topics {', '.join(missing)}: they are made "
            "by `symbiosis up`, or by `symbiosis kafka-setup` for a cluster of your own"
        )


def subscribe(
    broker: KafkaBroker,
    settings: Settings,
    topic: str,
    *,
    group_id: str,
    handlers: Mapping[type[Payload], EventHandler],
) -> None:
    """Consume ``topic`` in ``group_id``: each event to the handler of its payload class.

    Records come in batches (up to ``BATCH_RECORDS``; the broker gathers them for up to
    ``FETCH_MAX_WAIT_MS``), handled one after the other in offset order within a partition
    and in the order they were made across partitions (``in_the_order_made``), all in one
    transaction (``shared.consumer.batch``: every ``apply_once`` of the batch joins it); the
    transaction commits after the last, and then the batch's offsets are committed, once.
    When a handler fails, the batch's transaction is rolled back (nothing of it was kept)
    and its events are handled again one at a time, each in its own transaction, with the
    retries and dead letters below. A failure there rewinds to the batch's first record: the
    records before it come again and are skipped by their event ids.

    The handlers ``also_handle`` left for ``topic`` join those of this subscription (and
    run after it for an event type both handle).

    Events of other known types are skipped, by their ``ce_type`` header without decoding
    (a topic carries many types). Poison messages, events of a type the exchange does not
    know among them, go to the dead-letter topic. A handler that keeps failing for a reason
    other than an outage is dead-lettered after ``MAX_ATTEMPTS`` tries so the partition
    moves on.
    """
    combined = dict(handlers)
    for kind, rider in _RIDERS.get(broker, {}).pop(settings.kafka_namespace + topic, {}).items():
        combined[kind] = _both(combined[kind], rider) if kind in combined else rider
    by_type = {kind.event_type: handler for kind, handler in combined.items()}
    attempts: dict[tuple[int, int], int] = {}
    dead: set[tuple[int, int, int]] = set()  # dead-lettered already, if the batch comes again
    group_id = settings.kafka_namespace + group_id
    topic = settings.kafka_namespace + topic
    wanted = {name.encode() for name in by_type}
    known = {name.encode() for name in PAYLOAD_TYPES}

    async def poison(
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        cause: DeadLetterCause,
        attempts: int | None = None,
    ) -> None:
        position = (record.partition, record.offset, hash(record.value))
        if position not in dead:
            await dead_letter(broker, record, group_id, reason, cause, attempts)
            dead.add(position)
            if len(dead) > 10_000:
                dead.clear()

    async def prepare(record: ConsumerRecord[bytes, bytes]) -> _Event | None:
        """The record's event and its handler; None for a record skipped or dead-lettered."""
        declared = next((v for k, v in record.headers or () if k == "ce_type"), None)
        if declared is not None and declared in known and declared not in wanted:
            CONSUMED.labels(topic, declared.decode(), "skipped").inc()
            return None  # a type of this topic that this consumer does not act on
        try:
            if declared is not None and declared not in known:
                raise PoisonMessage(
                    f"unknown event type {declared.decode(errors='replace')!r}", "unknown_type"
                )
            envelope = decode(record.value or b"")
            if envelope.type not in PAYLOAD_TYPES:
                raise PoisonMessage(f"unknown event type {envelope.type!r}", "unknown_type")
            handler = by_type.get(envelope.type)
            if handler is None:
                CONSUMED.labels(topic, envelope.type, "skipped").inc()
                return None
            payload = payload_of(envelope)
        except PoisonMessage as exc:
            CONSUMED.labels(topic, "unknown", "dead_lettered").inc()
            await poison(record, f"poison: {exc}", exc.cause)
            return None
        return _Event(record, envelope, payload, handler)

    async def handle(event: _Event, *, batched: bool) -> float | None:
        """Run the event's handler; the seconds it took, or None when it was dead-lettered.
        In a batch a failure is raised as it is (the batch is then rolled back and its
        events handled one by one); alone, it is retried or dead-lettered as the module
        says."""
        record, envelope = event.record, event.envelope
        position = (record.partition, record.offset)
        with consuming(
            topic,
            record.headers or (),
            envelope.type,
            envelope.correlationid,
            **{
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": group_id,
                "messaging.message.id": envelope.id,
            },
        ) as span:
            started = time.perf_counter()
            try:
                await event.handler(envelope, event.payload)
            except TRANSIENT_ERRORS as exc:
                failed(span, exc)
                if batched:
                    raise
                CONSUMED.labels(topic, envelope.type, "retried").inc()
                log.warning("handler outage, will retry", topic=topic, error=repr(exc))
                await asyncio.sleep(1.0)
                raise
            except Exception as exc:
                failed(span, exc)
                if batched:
                    raise
                tries = attempts.get(position, 0) + 1
                if tries >= MAX_ATTEMPTS:
                    attempts.pop(position, None)
                    CONSUMED.labels(topic, envelope.type, "dead_lettered").inc()
                    log.error("handler failed, dead-lettering", topic=topic, error=repr(exc))
                    await poison(
                        record, f"handler failed {tries} times: {exc!r}", "handler_failed", tries
                    )
                    return None
                attempts[position] = tries
                CONSUMED.labels(topic, envelope.type, "retried").inc()
                log.warning("handler failed, will retry", topic=topic, tries=tries, error=repr(exc))
                await asyncio.sleep(0.2 * 2**tries)
                raise
            seconds = time.perf_counter() - started
            HANDLER_SECONDS.labels(topic, envelope.type).observe(seconds)
            if not batched:
                handled(event, seconds)
        return seconds

    def handled(event: _Event, seconds: float) -> None:
        """Once the event's effects are committed: its access-log line (with its correlation
        id) and its count."""
        record, envelope = event.record, event.envelope
        fields = {"correlation_id": envelope.correlationid}
        traceparent = next((v for k, v in record.headers or () if k == TRACEPARENT), None)
        if traceparent and (trace_id := trace_id_of(traceparent.decode(errors="replace"))):
            fields["trace_id"] = trace_id  # the consumer's span, if any, is of the same trace
        with structlog.contextvars.bound_contextvars(**fields):
            log.info(
                "event handled",
                topic=topic,
                type=envelope.type,
                partition=record.partition,
                offset=record.offset,
                duration_ms=round(seconds * 1000, 1),
            )
        CONSUMED.labels(topic, envelope.type, "handled").inc()
        attempts.pop((record.partition, record.offset), None)

    async def on_batch(records: Any) -> None:
        # The records of one poll: a tuple (a list on the test broker), one partition's after
        # another's, each in offset order.
        events = in_the_order_made(
            [
                event
                for record in (records if isinstance(records, tuple | list) else (records,))
                if (event := await prepare(record)) is not None
            ]
        )
        if len(events) > 1:
            done: list[tuple[_Event, float]] = []
            try:
                async with batch([event.envelope.id for event in events]):
                    for event in events:
                        seconds = await handle(event, batched=True)
                        assert seconds is not None
                        done.append((event, seconds))
            except Exception as exc:  # nothing of the batch was kept; one by one below
                log.info(
                    "batch rolled back, handling its events one by one",
                    topic=topic,
                    events=len(events),
                    error=repr(exc),
                )
            else:
                for event, seconds in done:
                    handled(event, seconds)
                return
        for event in events:
            await handle(event, batched=False)

    on_batch.__name__ = f"{group_id}_{topic.replace('.', '_')}"
    broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        decoder=_records,
        max_records=BATCH_RECORDS,
        batch_timeout_ms=BATCH_WAIT_MS,
        fetch_min_bytes=FETCH_MIN_BYTES,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=f"{group_id}:{topic}",
        listener=membership(broker, group_id, topic),
        # Static membership: a restarted instance rejoins with its old partitions at once.
        group_instance_id=f"{group_id}:{topic}:{settings.instance}" if settings.instance else None,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
    )(on_batch)


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes],
    group_id: str,
    reason: str,
    cause: DeadLetterCause,
    attempts: int | None = None,
) -> dict[str, str]:
    """The headers of ``record``'s copy in its dead-letter topic: its own, and the reason,
    its cause (and the handler's tries) and origin, so that a reader of the cause needs no
    parsing of the reason's words."""
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    headers.update(
        {
            "dlq-reason": reason[:1000],
            "dlq-cause": cause,
            "dlq-origin-topic": record.topic,
            "dlq-origin-partition": str(record.partition),
            "dlq-origin-offset": str(record.offset),
            "dlq-consumer-group": group_id,
            "dlq-failed-at": datetime.now(UTC).isoformat(),
        }
    )
    if attempts is not None:
        headers["dlq-attempts"] = str(attempts)
    return headers


async def dead_letter(
    broker: KafkaBroker,
    record: ConsumerRecord[bytes, bytes],
    group_id: str,
    reason: str,
    cause: DeadLetterCause,
    attempts: int | None = None,
) -> None:
    """Copy ``record`` to its topic's dead-letter topic (``dead_letter_headers``)."""
    headers = dead_letter_headers(record, group_id, reason, cause, attempts)
    log.warning("dead-lettered", topic=record.topic, offset=record.offset, reason=reason)
    DEAD_LETTERED.labels(record.topic).inc()
    await broker.publish(
        record.value or b"",
        topic=dead_letter_topic(record.topic),
        key=record.key,
        headers=headers,
    )
