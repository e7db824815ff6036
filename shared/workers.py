"""One runtime for every background loop of a service (the outbox relay, the Stripe worker,
e-mail, webhooks, expiry, the matcher's jobs).

A loop is a coroutine that runs until it is cancelled. The runtime restarts it when it ends
or fails, with a growing pause (1 s, doubling to 30 s; back to 1 s after a minute of
running): a lost database or broker connection costs a retry, never the loop. Each failure
is logged; ``report`` says how every loop is (for ``/health``, which answers 503 while one is
waiting to be restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Loop = Callable[[], Coroutine[Any, Any, None]]

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
HEALTHY_AFTER = 60.0  # seconds of running after which a failure counts as the first again


@dataclass
class Worker:
    name: str
    loop: Loop
    state: str = "starting"
    restarts: int = 0
    last_error: str | None = None
    since: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None

    def report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "for_seconds": round(time.monotonic() - self.since, 1),
        }


class WorkerRuntime:
    """The service's background loops, each watched and restarted."""

    def __init__(self) -> None:
        self.workers: dict[str, Worker] = {}

    def start(self, name: str, loop: Loop) -> Worker:
        worker = Worker(name, loop)
        worker.task = asyncio.create_task(self._supervise(worker), name=f"worker:{name}")
        self.workers[name] = worker
        return worker

    async def _supervise(self, worker: Worker) -> None:
        pause = FIRST_PAUSE
        while True:
            worker.state, worker.since = "running", time.monotonic()
            try:
                await worker.loop()
                worker.last_error = "the loop ended"
                log.error("background loop ended; restarting it", worker=worker.name)
            except asyncio.CancelledError:
                worker.state = "stopped"
                raise
            except Exception as exc:  # whatever it was, the loop must go on
                worker.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
                log.warning(
                    "background loop failed; restarting it",
                    worker=worker.name,
                    error=worker.last_error,
                    pause=pause,
                )
            if time.monotonic() - worker.since > HEALTHY_AFTER:
                pause = FIRST_PAUSE
            worker.state, worker.since = "restarting", time.monotonic()
            worker.restarts += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)

    def running(self, name: str) -> bool:
        worker = self.workers.get(name)
        return worker is not None and worker.state == "running"

    def report(self) -> tuple[bool, list[dict[str, Any]]]:
        """Whether every loop runs, and each one's state."""
        reports = [worker.report() for worker in self.workers.values()]
        return all(r["state"] == "running" for r in reports), reports

    async def stop(self) -> None:
        for worker in self.workers.values():
            if worker.task is not None:
                worker.task.cancel()
        for worker in self.workers.values():
            if worker.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.task
