"""The worker runtime (issue 13): a background loop that fails or ends is started again,
after a pause that grows, and its state is reported while it waits."""

from __future__ import annotations

import asyncio

import pytest

from shared import workers
from shared.workers import WorkerRuntime


async def test_a_failing_loop_is_started_again_and_reported_while_it_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "FIRST_PAUSE", 0.05)
    runs = 0
    resume = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise ConnectionError("the database went away")
        await resume.wait()

    runtime = WorkerRuntime()
    runtime.start("flaky", flaky)
    await asyncio.sleep(0.01)
    ok, reports = runtime.report()
    assert not ok and reports[0]["state"] == "restarting"
    assert "the database went away" in reports[0]["last_error"]
    while runs < 3:
        await asyncio.sleep(0.01)
    ok, reports = runtime.report()
    assert ok and reports[0]["restarts"] == 2 and reports[0]["state"] == "running"
    await runtime.stop()
    assert runtime.report()[1][0]["state"] == "stopped"


async def test_a_loop_that_ends_is_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "FIRST_PAUSE", 0.01)
    ended = 0

    async def quits() -> None:
        nonlocal ended
        ended += 1

    runtime = WorkerRuntime()
    runtime.start("quits", quits)
    while ended < 3:
        await asyncio.sleep(0.01)
    await runtime.stop()
    assert runtime.workers["quits"].last_error == "the loop ended"
