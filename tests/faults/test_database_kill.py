"""PostgreSQL killed under requests: every answer while it is down is a 503 with Retry-After,
never a 500, and the exchange answers again once it is back.

A backend of a dying server sends its FATAL error to idle pooled connections; asyncpg,
expecting nothing, is then out of step with the server, and the next statement on such a
connection failed with "another operation (2) is in progress", answered 500 (the fault
suite's PostgreSQL kill, in one CI run in three). ``shared.db.PooledConnection`` terminates
such a connection and fails the statement as a lost connection."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.faults.conftest import Servers
from tests.faults.flow import Flow
from tests.support import Stack

pytestmark = pytest.mark.e2e

KILLS = 6


async def test_requests_while_postgresql_dies_are_answered_503_never_500(
    servers: Servers, fault_stack: Stack
) -> None:
    answers: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=fault_stack.url, timeout=20) as client:
        flow = Flow(client, "Database Kill")
        await flow.start()
        mine = {"params": {"mine": "true"}, "headers": flow.supplier["headers"]}

        async def four() -> list[httpx.Response]:
            return await asyncio.gather(
                *(client.get("/api/listings/listings/", **mine) for _ in range(4))
            )

        for _ in range(KILLS):
            # every pooled connection in use once, so that each is idle when the server dies
            assert {r.status_code for r in await four()} == {200}
            assert servers.postgres is not None
            servers.postgres.process.kill()
            await asyncio.to_thread(servers.postgres.process.wait, 30)
            for _ in range(100):
                down = await four()
                answers.update(r.status_code for r in down)
                if any(r.status_code != 200 for r in down):
                    refused = [r for r in down if r.status_code != 200]
                    assert all(r.headers.get("retry-after") for r in refused), refused
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(servers.start_postgres)
            for _ in range(150):
                if (await client.get("/api/listings/listings/", **mine)).status_code == 200:
                    break
                await asyncio.sleep(0.2)
    assert 503 in answers and set(answers) <= {200, 503}, answers
    assert "another operation" not in fault_stack.log("listings")
    assert "unhandled error" not in fault_stack.log("listings")
