"""What the park office's console asks of every service (park administrators only): the
lag of the service's consumer groups, the messages its topic's consumers dead-lettered
(`<topic>.dlq`, with the reason and cause `shared/kafka.py` gave), and replaying one after
a fix.

Each service answers for its own topic with its own Kafka principal: it reads its topic's
dead-letter topic and writes a replayed message back to its own topic, nothing else
(`shared/broker_admin.py`). Replaying is safe: every consumer applies an event id once
(`shared/consumer.py`), so only the consumer that failed the message acts on it again. The
dead-letter topic is a log: a replayed message stays in it, shown as replayable again.

A service keeps one `Operations` for its life (`operations_lifespan`): its admin client
and its offsets consumer (a consumer in no group, used only to ask partitions' offsets)
are opened on the first question, kept open (signing in to the broker costs more than
the questions), closed at shutdown, and opened again once when a question fails on them.
Reading the dead letters themselves takes a consumer of its own, only when there are some.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from litestar import Controller, Litestar, Request, get, post
from pydantic import BaseModel, Field

from shared.http import Problem, principal_of
from shared.kafka import DEAD_LETTER_CAUSES, DeadLetterCause, client_options
from shared.settings import Settings
from shared.topology import TOPOLOGY, dead_lettered_topics

# The newest dead letters shown per partition (a dead-letter topic should stay short).
NEWEST = 200
PREVIEW = 600
READ_SECONDS = 10.0
DLQ_HEADERS = ("dlq-reason", "dlq-origin-topic", "dlq-origin-partition", "dlq-origin-offset")
T = TypeVar("T")

Cause = Literal[DeadLetterCause, "other"]
_HANDLER_FAILED = re.compile(r"handler failed (\d+) times: ")


def cause_in(headers: dict[str, str]) -> tuple[Cause, int | None]:
    """What kind of failure a dead letter records, and how many times the handler was tried
    (for a failing handler): its ``dlq-cause`` and ``dlq-attempts`` headers, as
    ``shared/kafka.py`` writes them; for a message dead-lettered before it wrote them, read
    off its ``dlq-reason`` (``cause_of``). A cause this code does not know is ``other``."""
    recorded = headers.get("dlq-cause")
    if recorded is None:
        return cause_of(headers.get("dlq-reason", ""))
    cause = next((c for c in DEAD_LETTER_CAUSES if c == recorded), None)
    if cause is None:
        return "other", None
    tries = headers.get("dlq-attempts", "")
    return cause, int(tries) if cause == "handler_failed" and tries.isdigit() else None


def cause_of(reason: str) -> tuple[Cause, int | None]:
    """What kind of failure a ``dlq-reason`` records, and how many times the handler was
    tried (for a failing handler), read off the way ``shared/kafka.py`` worded it before it
    recorded the cause in headers of its own: a ``poison:`` message (no event envelope, an
    unknown type, or a payload its type does not allow) or ``handler failed <n> times:``;
    anything else is ``other``."""
    if reason.startswith("poison: "):
        detail = reason.removeprefix("poison: ")
        if detail.startswith("unknown event type "):
            return "unknown_type", None
        if " payload invalid: " in detail:
            return "invalid_payload", None
        return "unreadable", None
    failed = _HANDLER_FAILED.match(reason)
    if failed:
        return "handler_failed", int(failed.group(1))
    return "other", None


class DeadLetter(BaseModel):
    """A message a consumer could not use, and why."""

    topic: str = Field(description="The dead-letter topic (without the namespace).")
    partition: int
    offset: int
    origin_topic: str = Field(description="Where it came from (without the namespace).")
    origin_partition: int | None
    origin_offset: int | None
    consumer_group: str | None = Field(description="The consumer group that gave up on it.")
    reason: str = Field(
        description="Why it was dead-lettered (`dlq-reason`), verbatim: technical, in English."
    )
    cause: Cause = Field(
        description="The kind of failure (`dlq-cause`): `unreadable` (no event envelope: not "
        "JSON, or fields missing), `unknown_type` (an event type the exchange does not know), "
        "`invalid_payload` (a known type whose payload breaks its schema), `handler_failed` "
        "(the consumer's handler failed again and again), `other`. For a message "
        "dead-lettered without `dlq-cause` (before the header was written), read off the "
        "reason."
    )
    attempts: int | None = Field(
        description="How many times the handler was tried (`dlq-attempts`, for `handler_failed`)."
    )
    failed_at: datetime | None
    event_type: str | None = Field(description="The event's type, when it is one we can read.")
    event_id: str | None
    subject: str | None
    size: int = Field(description="Bytes of the message.")
    preview: str = Field(description="Its first characters, as text.")
    replayed_at: datetime | None = Field(
        default=None, description="Set in the answer to a replay: when it went back."
    )


class GroupLag(BaseModel):
    """How far one consumer group is behind on one partition."""

    group: str
    topic: str
    partition: int
    committed: int | None = Field(description="The group's committed offset (None: none yet).")
    end: int = Field(description="The partition's end offset.")
    lag: int = Field(description="Messages the group has yet to process.")


def _bare(settings: Settings, name: str) -> str:
    return name.removeprefix(settings.kafka_namespace)


def _dead_letter(settings: Settings, record: Any) -> DeadLetter:
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    value: bytes = record.value or b""
    event: dict[str, Any] = {}
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        decoded = json.loads(value)
        if isinstance(decoded, dict):
            event = decoded

    def number(name: str) -> int | None:
        text = headers.get(name, "")
        return int(text) if text.isdigit() else None

    failed_at = None
    with contextlib.suppress(ValueError):
        failed_at = datetime.fromisoformat(headers.get("dlq-failed-at", ""))
    reason = headers.get("dlq-reason", "")
    cause, attempts = cause_in(headers)
    return DeadLetter(
        topic=_bare(settings, record.topic),
        partition=record.partition,
        offset=record.offset,
        origin_topic=_bare(settings, headers.get("dlq-origin-topic", "")),
        origin_partition=number("dlq-origin-partition"),
        origin_offset=number("dlq-origin-offset"),
        consumer_group=_bare(settings, headers["dlq-consumer-group"])
        if "dlq-consumer-group" in headers
        else None,
        reason=reason,
        cause=cause,
        attempts=attempts,
        failed_at=failed_at,
        event_type=str(event["type"]) if "type" in event else None,
        event_id=str(event["id"]) if "id" in event else None,
        subject=str(event["subject"]) if "subject" in event else None,
        size=len(value),
        preview=value[:PREVIEW].decode(errors="replace"),
    )


def dead_letter_topics(service: str) -> list[str]:
    """The dead-letter topics of the topics ``service`` produces (and others consume)."""
    produced = TOPOLOGY[service].produces
    return [t.dead_letter for t in dead_lettered_topics() if t in produced]


class Operations:
    """The service's view of its topic's dead letters and its consumer groups' lag."""

    def __init__(self, settings: Settings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.options = client_options(settings, service)
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._opening = asyncio.Lock()
        self.connects = 0  # how many times the kept clients were opened

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        """The kept admin client and offsets consumer, opened on first use."""
        async with self._opening:
            if self._admin is None or self._offsets is None:
                admin = AIOKafkaAdminClient(**self.options)
                offsets = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **self.options)
                try:
                    await asyncio.gather(admin.start(), offsets.start())
                except BaseException:
                    await _closed(admin, offsets)
                    raise
                self._admin, self._offsets = admin, offsets
                self.connects += 1
            return self._admin, self._offsets

    async def _with_clients(
        self, ask: Callable[[AIOKafkaAdminClient, AIOKafkaConsumer], Awaitable[T]]
    ) -> T:
        """``ask`` on the kept clients; when it fails on them (a broker restarted, a
        connection went), once more on newly opened ones."""
        clients = await self._clients()
        try:
            return await ask(*clients)
        except (KafkaError, OSError):
            await self._forget(clients)
            return await ask(*await self._clients())

    async def _forget(self, clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer]) -> None:
        async with self._opening:
            if (self._admin, self._offsets) == clients:
                self._admin = self._offsets = None
        await _closed(*clients)

    async def close(self) -> None:
        """Close the kept clients (at the service's shutdown); a later question opens
        them again."""
        async with self._opening:
            admin, offsets = self._admin, self._offsets
            self._admin = self._offsets = None
        await _closed(admin, offsets)

    @contextlib.asynccontextmanager
    async def _consumer(self) -> AsyncIterator[AIOKafkaConsumer]:
        """A consumer in no group of its own, for reading assigned partitions."""
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **self.options
        )
        try:
            await consumer.start()
            yield consumer
        finally:
            await asyncio.sleep(0)  # let its background tasks start before they are stopped
            await consumer.stop()

    async def _partitions(self, names: list[str]) -> list[TopicPartition]:
        async def ask(admin: AIOKafkaAdminClient, _: AIOKafkaConsumer) -> list[Any]:
            described: list[Any] = await admin.describe_topics(names)
            return described

        described = await self._with_clients(ask)
        return sorted(
            TopicPartition(topic["topic"], part["partition"])
            for topic in described
            if not topic.get("error_code")
            for part in topic.get("partitions", ())
        )

    async def _bounds(
        self, partitions: list[TopicPartition]
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        """Each partition's first and end offsets."""

        async def ask(
            _: AIOKafkaAdminClient, offsets: AIOKafkaConsumer
        ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
            starts, ends = await asyncio.gather(
                offsets.beginning_offsets(partitions), offsets.end_offsets(partitions)
            )
            return starts, ends

        return await self._with_clients(ask)

    async def dead_letters(self) -> list[DeadLetter]:
        """The newest dead letters of the service's topic, newest first."""
        found: list[DeadLetter] = []
        names = [self.settings.kafka_namespace + t for t in dead_letter_topics(self.service)]
        if not names:
            return found
        partitions = await self._partitions(names)
        if not partitions:
            return found
        starts, ends = await self._bounds(partitions)
        pending = {tp for tp in partitions if ends[tp] > starts[tp]}
        if not pending:  # the usual case: nothing to read, no consumer to open
            return found
        async with self._consumer() as consumer:
            consumer.assign(sorted(pending))
            for tp in pending:
                consumer.seek(tp, max(starts[tp], ends[tp] - NEWEST))
            deadline = asyncio.get_running_loop().time() + READ_SECONDS
            while pending and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(*pending, timeout_ms=500)
                for tp, records in batch.items():
                    found.extend(_dead_letter(self.settings, r) for r in records)
                    if records and records[-1].offset >= ends[tp] - 1:
                        pending.discard(tp)
        found.sort(key=lambda d: (d.failed_at is not None, d.failed_at, d.offset), reverse=True)
        return found

    async def replay(self, partition: int, offset: int) -> DeadLetter:
        """Write the dead letter at ``partition``/``offset`` back to the topic it came from."""
        topics = dead_letter_topics(self.service)
        if not topics:
            raise Problem(404, "Not found", f"{self.service} has no dead-letter topic")
        name = topics[0]
        tp = TopicPartition(self.settings.kafka_namespace + name, partition)
        if tp not in await self._partitions([tp.topic]):
            raise _no_such(name, partition, offset)
        starts, ends = await self._bounds([tp])
        if not starts[tp] <= offset < ends[tp]:
            raise _no_such(name, partition, offset)
        async with self._consumer() as consumer:
            consumer.assign([tp])
            consumer.seek(tp, offset)
            record = await asyncio.wait_for(consumer.getone(tp), READ_SECONDS)
        letter = _dead_letter(self.settings, record)
        origin = self.settings.kafka_namespace + letter.origin_topic
        own = [self.settings.kafka_namespace + t.value for t in TOPOLOGY[self.service].produces]
        if origin not in own:
            raise Problem(409, "Conflict", f"{letter.origin_topic} is not this service's topic")
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq-")] + [
            ("replayed-from", f"{name}/{partition}/{offset}".encode())
        ]
        producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=self.settings.kafka_idempotent_producer,
            **self.options,
        )
        await producer.start()
        try:
            await producer.send_and_wait(origin, record.value, key=record.key, headers=headers)
        finally:
            await producer.stop()
        return letter.model_copy(update={"replayed_at": datetime.now().astimezone()})

    async def lag(self) -> list[GroupLag]:
        """Each of the service's consumer groups, partition by partition."""
        prefix = self.settings.kafka_namespace + self.service
        rows: list[GroupLag] = []

        async def ask(
            admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer
        ) -> tuple[dict[str, dict[TopicPartition, Any]], dict[TopicPartition, int]]:
            groups = sorted(
                g[0] for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix)
            )
            found = await asyncio.gather(
                *(admin.list_consumer_group_offsets(group) for group in groups)
            )
            committed = dict(zip(groups, found, strict=True))
            partitions = sorted({tp for part in committed.values() for tp in part})
            ends = await offsets.end_offsets(partitions) if partitions else {}
            return committed, ends

        committed, ends = await self._with_clients(ask)
        for group, found in committed.items():
            for tp, meta in sorted(found.items()):
                offset = meta.offset if meta is not None and meta.offset >= 0 else None
                end = ends.get(tp, 0)
                rows.append(
                    GroupLag(
                        group=_bare(self.settings, group),
                        topic=_bare(self.settings, tp.topic),
                        partition=tp.partition,
                        committed=offset,
                        end=end,
                        lag=max(0, end - (offset or 0)),
                    )
                )
        return rows


async def _closed(*clients: AIOKafkaAdminClient | AIOKafkaConsumer | None) -> None:
    """Close each client, whatever state it is in."""
    for client in clients:
        if client is not None:
            with contextlib.suppress(Exception):
                await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())


@contextlib.asynccontextmanager
async def operations_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The service's one `Operations`, its Kafka clients closed at shutdown."""
    operations = Operations(app.state.settings, app.state.service)
    app.state.operations = operations
    try:
        yield
    finally:
        await operations.close()


def _no_such(topic: str, partition: int, offset: int) -> Problem:
    return Problem(404, "Not found", f"no message at {topic} partition {partition} offset {offset}")


def _operations(request: Request[Any, Any, Any]) -> Operations:
    principal_of(request, "park:admin")
    operations: Operations = request.app.state.operations
    return operations


class OperationsController(Controller):
    """For the park office: dead letters of this service's topic, and its consumers' lag."""

    path = "/operations"
    tags = ["operations"]

    @get("/dead-letters", operation_id="list_dead_letters")
    async def dead_letters(self, request: Request[Any, Any, Any]) -> list[DeadLetter]:
        """Messages of this service's topic that a consumer dead-lettered, newest first,
        with the reason (park administrators)."""
        return await _operations(request).dead_letters()

    @post(
        "/dead-letters/{partition:int}/{offset:int}/replay",
        status_code=200,
        operation_id="replay_dead_letter",
    )
    async def replay(
        self, request: Request[Any, Any, Any], partition: int, offset: int
    ) -> DeadLetter:
        """Write a dead-lettered message back to the topic it came from, after a fix: its
        consumers apply each event once, so only the one that failed it acts again."""
        return await _operations(request).replay(partition, offset)

    @get("/consumer-lag", operation_id="consumer_lag")
    async def consumer_lag(self, request: Request[Any, Any, Any]) -> list[GroupLag]:
        """How far each of this service's consumer groups is behind, by partition."""
        return await _operations(request).lag()
