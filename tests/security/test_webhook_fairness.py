"""Fair webhook delivery (issue 15, finding 8): any company could register unlimited
endpoints, and all companies shared 50 delivery slots, so one company's slow endpoints
delayed everyone's deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.notifications.config import NotificationsSettings
from services.notifications.domain import Owner
from services.notifications.webhook_delivery import Schedule, deliver_periodically
from services.notifications.webhooks import create_endpoint, enqueue_webhooks
from shared.db import Pool
from shared.settings import Settings
from tests.integration.test_webhooks import HOLD, Receiver, proposed
from tests.support import eventually, migrated_pool, register_company

HOOKS = "/api/notifications/webhooks/endpoints/"


@pytest.fixture
def settings(settings: Settings) -> NotificationsSettings:
    """The test's settings as the notifications service reads them (webhooks are its own)."""
    return NotificationsSettings(**settings.model_dump())


@pytest.mark.e2e
async def test_a_company_may_register_ten_endpoints_and_no_more(
    client: httpx.AsyncClient,
) -> None:
    company = await register_company(client, "Endpoint Hoarder AS")
    made = []
    for n in range(12):
        response = await client.post(
            HOOKS,
            json={"url": f"http://127.0.0.1:9/hook/{n}", "event_types": ["trade.proposed"]},
            headers=company["headers"],
        )
        made.append(response.status_code)
    assert made == [201] * 10 + [409] * 2
    assert "10 webhook endpoints" in response.json()["detail"]
    listed = (await client.get(HOOKS, headers=company["headers"])).json()
    assert len(listed) == 10
    # one deleted makes room for one more
    deleted = await client.delete(f"{HOOKS}{listed[0]['id']}", headers=company["headers"])
    assert deleted.status_code == 204
    again = await client.post(
        HOOKS,
        json={"url": "http://127.0.0.1:9/hook/again", "event_types": ["trade.proposed"]},
        headers=company["headers"],
    )
    assert again.status_code == 201


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


@pytest.mark.integration
async def test_one_companys_slow_endpoints_delay_only_that_company(
    pool: Pool, settings: Settings
) -> None:
    """Company A's endpoints never answer; they take at most A's share of the slots, and
    company B's delivery goes out at once."""
    schedule = Schedule(
        poll_seconds=0.2,
        attempt_timeout_seconds=30.0,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.2,
        give_up_after_seconds=60.0,
        max_in_flight=6,
        max_in_flight_per_owner=3,
    )
    allowed = settings.model_copy(update={"webhook_allowed_hosts": "127.0.0.1"})
    slow_company, fast_company = uuid.uuid4(), uuid.uuid4()
    async with Receiver() as receiver:
        async with pool.acquire() as conn, conn.transaction():
            for n in range(8):
                receiver.script(f"/slow/{n}", HOLD)
                await create_endpoint(
                    conn,
                    Owner(company_id=slow_company),
                    receiver.url(f"/slow/{n}"),
                    ["trade.proposed"],
                    None,
                )
            for _ in range(3):  # three events for each slow endpoint
                envelope = proposed(slow_company, uuid.uuid4())
                await enqueue_webhooks(conn, envelope, envelope.payload(), None)
        task = asyncio.create_task(deliver_periodically(pool, allowed, schedule))
        try:
            await eventually(lambda: _open(receiver, "/slow/", 3), timeout=10)
            async with pool.acquire() as conn, conn.transaction():
                await create_endpoint(
                    conn,
                    Owner(company_id=fast_company),
                    receiver.url("/fast"),
                    ["trade.proposed"],
                    None,
                )
                envelope = proposed(fast_company, uuid.uuid4())
                await enqueue_webhooks(conn, envelope, envelope.payload(), None)
            asked = time.monotonic()
            await eventually(lambda: _open(receiver, "/fast", 1), timeout=10)
            assert time.monotonic() - asked < 3
            # A's share: never more than three of its requests out at once
            assert sum(v for k, v in receiver.most_open.items() if k.startswith("/slow/")) <= 8
            assert sum(receiver.open_now.get(f"/slow/{n}", 0) for n in range(8)) <= 3
        finally:
            receiver.release()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _open(receiver: Receiver, prefix: str, count: int) -> bool:
    return len([r for r in receiver.requests if r.path.startswith(prefix)]) >= count
