"""What a hung test leaves behind, for whoever reads a failed CI run.

pytest-timeout ends a run that is over a test's time with every *thread's* stack, which for
an async test shows only the event loop waiting in ``select``: not which test hung nor
which coroutine it waits on. So each test's name is written to
``test-artifacts/last-test-started`` as it starts and the file is removed when the run
ends (it is there only when a run was cut off; ``.ci/run`` then prints it last), and ten
seconds before pytest-timeout's limit the stack of every unfinished asyncio task is printed
to the run's standard error.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import REPO

LAST_STARTED = REPO / "test-artifacts" / "last-test-started"
_AHEAD_SECONDS = 10.0


def _limit(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("timeout") or 0)


def _pending_tasks() -> list[asyncio.Task[Any]]:
    # Read from another thread while the loop runs: the set may change under us, so retry.
    for _ in range(5):
        try:
            return [t for t in list(asyncio.tasks._all_tasks) if not t.done()]  # type: ignore[attr-defined]
        except RuntimeError:
            time.sleep(0.01)
    return []


def _report(nodeid: str, seconds: float) -> None:
    out = sys.__stderr__
    if out is None:
        return
    print(f"\n+++ {nodeid} has run for {seconds:g} s; its unfinished asyncio tasks:", file=out)
    for task in _pending_tasks():
        try:
            task.print_stack(limit=30, file=out)
        except Exception as exc:  # a diagnostic must never be what fails
            print(f"(could not print {task!r}: {exc!r})", file=out)
    print("+++ end of the unfinished tasks", file=out, flush=True)


def pytest_runtest_logstart(nodeid: str) -> None:
    LAST_STARTED.parent.mkdir(exist_ok=True)
    LAST_STARTED.write_text(f"{nodeid}\n")


def pytest_sessionfinish() -> None:
    LAST_STARTED.unlink(missing_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    limit = _limit(item)
    timer: threading.Timer | None = None
    if limit > _AHEAD_SECONDS * 2:
        at = limit - _AHEAD_SECONDS
        timer = threading.Timer(at, _report, args=(item.nodeid, at))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
