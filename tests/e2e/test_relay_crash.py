"""The relay dies between publishing and marking the row sent: the effect still happens once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from shared.events import Envelope, Topic
from tests.conftest import create_database
from tests.support import (
    REPO,
    Infra,
    Stack,
    eventually,
    read_topic,
    register_company,
    running_stack,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def crash_database(infra: Infra) -> str:
    return await create_database(infra)


@pytest.fixture
def quiet_listings_stack(
    infra: Infra, crash_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The stack, with the listings service's own relay switched off to start with."""
    with running_stack(infra, crash_database, tmp_path_factory.mktemp("crash")) as stack:
        stack.stop("listings")
        stack.start("listings", {"SYMBIOSIS_OUTBOX_RELAY_ENABLED": "false"})
        stack.wait_healthy(["listings"])
        yield stack


async def test_relay_killed_after_publish_before_mark(
    quiet_listings_stack: Stack, crash_database: str, infra: Infra
) -> None:
    stack = quiet_listings_stack
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        supplier = await register_company(client, "Crash Supplier AS")
        receiver = await register_company(client, "Crash Receiver AS")
        for company, kind in ((supplier, "offer"), (receiver, "need")):
            response = await client.post(
                "/api/listings/listings/",
                json={
                    "kind": kind,
                    "ewc_code": "200108",
                    "title": "Canteen waste",
                    "quantity": "9",
                    "unit": "t",
                },
                headers=company["headers"],
            )
            assert response.status_code == 201

        db = await asyncpg.connect(crash_database)
        try:
            # the companies' details for invoices (company.details_changed) are set aside as
            # sent: this test follows each company's company.changed and the two listings
            await db.execute(
                "UPDATE listings.outbox SET sent_at = now() "
                "WHERE sent_at IS NULL AND headers->>'ce_type' = 'company.details_changed'"
            )
            assert (
                await db.fetchval("SELECT count(*) FROM listings.outbox WHERE sent_at IS NULL") == 4
            )
            crash = subprocess.run(
                [sys.executable, "-m", "tests.e2e.crashing_relay", "listings"],
                env=stack.env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert crash.returncode == -9, crash.stdout + crash.stderr
            assert "dying" in crash.stdout
            # the event is on the broker, and its row still says unsent
            assert (
                await db.fetchval("SELECT count(*) FROM listings.outbox WHERE sent_at IS NULL") == 4
            )
            topic = stack.namespace + Topic.LISTINGS
            assert len(await read_topic(infra, topic)) == 1

            # listings comes back with its relay, which publishes every row again
            stack.stop("listings")
            stack.start("listings")
            stack.wait_healthy(["listings"])

            async def inboxes() -> list[list[Any]] | None:
                boxes = []
                for company in (supplier, receiver):
                    response = await client.get(
                        "/api/notifications/inbox/", headers=company["headers"]
                    )
                    boxes.append(response.json())
                return boxes if all(boxes) else None

            await eventually(inboxes)
            await asyncio.sleep(2)
            boxes = await inboxes()
            assert boxes is not None and [len(b) for b in boxes] == [1, 1]
            proposals = (
                await client.get("/api/contracts/proposals/", headers=receiver["headers"])
            ).json()
            assert len(proposals) == 1
            assert (
                await db.fetchval("SELECT count(*) FROM listings.outbox WHERE sent_at IS NULL") == 0
            )
            records = await read_topic(infra, topic)
            ids = [Envelope.model_validate_json(r.value).id for r in records]
            assert len(ids) == 5 and len(set(ids)) == 4  # one event went out twice
            assert await db.fetchval("SELECT count(*) FROM matching.proposals") == 1
        finally:
            await db.close()
