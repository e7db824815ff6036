"""Readiness: can this service do its work now?

``/health`` asks each part: the database answers, the broker answers, every consumer
group has joined and holds its partitions, every background loop runs (``shared.workers``),
and how far behind the outbox relay is. It answers 200 when all can work and 503 (with what
is wrong) when one cannot; the body is the same either way, for `symbiosis up`, compose's
health checks and operators.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition
from faststream.kafka import KafkaBroker

from shared.db import Pool
from shared.outbox import RELAY, backlog
from shared.workers import WorkerRuntime

CHECK_TIMEOUT = 2.0


@dataclass
class GroupMembership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Told by the consumer when its group gives it partitions and takes them back."""

    group: str
    topic: str
    joined: bool = False
    partitions: tuple[int, ...] = ()
    since: float = field(default_factory=time.monotonic)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.joined = False
        self.since = time.monotonic()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined = True
        self.partitions = tuple(sorted(tp.partition for tp in assigned))
        self.since = time.monotonic()

    def report(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "topic": self.topic,
            "joined": self.joined,
            "partitions": list(self.partitions),
            "for_seconds": round(time.monotonic() - self.since, 1),
        }


# Each broker's consumers, as shared.kafka.subscribe registers them.
_MEMBERSHIPS: weakref.WeakKeyDictionary[KafkaBroker, list[GroupMembership]] = (
    weakref.WeakKeyDictionary()
)


def membership(broker: KafkaBroker, group: str, topic: str) -> GroupMembership:
    """A new consumer's membership, counted in ``broker``'s readiness."""
    joined = GroupMembership(group, topic)
    _MEMBERSHIPS.setdefault(broker, []).append(joined)
    return joined


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: dict[str, Any]


async def _timed(probe: Awaitable[Check], what: str) -> Check:
    try:
        return await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except TimeoutError:
        return Check(False, {"error": f"{what} did not answer within {CHECK_TIMEOUT:.0f} s"})
    except Exception as exc:  # any failure of a probe is an answer: not ready
        return Check(False, {"error": f"{exc.__class__.__name__}: {exc}"})


async def _database(pool: Pool) -> Check:
    started = time.perf_counter()
    await pool.fetchval("SELECT 1")
    return Check(True, {"latency_ms": round((time.perf_counter() - started) * 1000, 1)})


async def _broker(broker: KafkaBroker) -> Check:
    ok = await broker.ping(timeout=CHECK_TIMEOUT)
    return Check(ok, {} if ok else {"error": "the broker does not answer"})


def _consumers(broker: KafkaBroker) -> Check:
    groups = [m.report() for m in _MEMBERSHIPS.get(broker, [])]
    return Check(all(g["joined"] for g in groups), {"groups": groups})


async def _outbox(pool: Pool, workers: WorkerRuntime) -> Check:
    unsent, oldest = await backlog(pool)
    relay = workers.workers.get(RELAY)
    detail: dict[str, Any] = {
        "relay": relay.state if relay is not None else "off",
        "unsent": unsent,
        "oldest_unsent_seconds": round(oldest, 1),
    }
    # A relay that is off on purpose (another process relays) is no fault of this one.
    return Check(relay is None or relay.state == "running", detail)


def _workers(workers: WorkerRuntime) -> Check:
    ok, reports = workers.report()
    return Check(ok, {"loops": reports})


async def readiness(
    pool: Pool, broker: KafkaBroker, workers: WorkerRuntime
) -> tuple[bool, dict[str, Any]]:
    """Whether the service can do its work, and each part's answer."""
    database, reachable, outbox = await asyncio.gather(
        _timed(_database(pool), "the database"),
        _timed(_broker(broker), "the broker"),
        _timed(_outbox(pool, workers), "the outbox"),
    )
    checks = {
        "database": database,
        "broker": reachable,
        "consumers": _consumers(broker),
        "outbox": outbox,
        "workers": _workers(workers),
    }
    ok = all(check.ok for check in checks.values())
    return ok, {name: {"ok": c.ok, **c.detail} for name, c in checks.items()}
