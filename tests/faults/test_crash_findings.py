"""Issue 13's findings, each reproduced where it broke: a retried POST after a crash, the
outbox relay's lost LISTEN connection, e-mails sent again after a crash, a database outage
answered 500. Each test fails on the code the crash tests found."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import MailDrop
from tests.faults.flow import Flow, listing
from tests.support import Stack, eventually, free_port, register_company

pytestmark = pytest.mark.timeout(300)


def start_instance(stack: Stack, name: str, service: str, failpoint: str) -> int:
    """Another instance of ``service`` beside the stack's, armed to die at ``failpoint``."""
    port = free_port()
    stack.start(name, {"SYMBIOSIS_FAILPOINTS": failpoint}, service=service, port=port)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/{service}/health", timeout=2).status_code:
                return port
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{name} did not start:\n{stack.log(name)[-3000:]}")


async def test_a_post_retried_after_a_crash_before_it_answered_runs_once(
    fault_stack: Stack,
) -> None:
    """Finding 3: the listing and the Idempotency-Key's answer commit together, so a crash
    after the handler did its work and before the answer was stored leaves neither: the
    retry runs once (before: 409 for a minute, then a second listing)."""
    async with httpx.AsyncClient(base_url=fault_stack.url, timeout=20) as client:
        company = await register_company(client, "Retry After Crash AS")
        port = start_instance(
            fault_stack, "listings-crashing", "listings", "idempotency.before_commit"
        )
        key = str(uuid.uuid4())
        headers = {**company["headers"], "Idempotency-Key": key}
        body = listing("offer", 0, f"Crash {key[:8]}", first_site=16_900)  # no flow's
        try:
            await client.post(
                f"http://127.0.0.1:{port}/api/listings/listings/", json=body, headers=headers
            )
            raise AssertionError("the crashing instance answered")
        except httpx.TransportError:
            pass  # it died at the failpoint, as a kill would end it
        process = fault_stack.processes.pop("listings-crashing")
        assert process.wait(10) == -9
        first = await client.post("/api/listings/listings/", json=body, headers=headers)
        assert first.status_code == 201, first.text
        again = await client.post("/api/listings/listings/", json=body, headers=headers)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        mine = await client.get(
            "/api/listings/listings/", params={"mine": "true"}, headers=company["headers"]
        )
        assert [item["id"] for item in mine.json()["items"]] == [first.json()["id"]]


async def test_the_relay_goes_on_after_its_listen_connection_is_killed(
    fault_stack: Stack,
) -> None:
    """Finding 2: killing only the outbox relay's LISTEN connection stopped each service
    from publishing, for good; now the relay opens it again and publishes what waits."""
    url = fault_stack.env["SYMBIOSIS_DATABASE_URL"]
    db = await asyncpg.connect(url)
    try:
        killed = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN \"outbox_%'"
        )
    finally:
        await db.close()
    assert killed >= 4  # one per service
    async with httpx.AsyncClient(base_url=fault_stack.url, timeout=20) as client:
        flow = Flow(client, "Listen Kill")
        await flow.start()
        await flow.run(5, rate=10)
        tally = await flow.settled(url, timeout=60)
    assert tally.complete(), tally.rows()


async def test_a_crash_after_the_mail_server_took_an_email_sends_only_that_one_again(
    fault_stack: Stack, mail_drop: tuple[MailDrop, int]
) -> None:
    """Finding 4: e-mails were sent twenty to a transaction, so a crash sent them all again;
    now each is recorded as sent on its own, and only the one in flight goes again, with
    the same Message-ID."""
    drop, _ = mail_drop
    fault_stack.stop("notifications")
    start_instance(fault_stack, "notifications-crashing", "notifications", "email.after_smtp")
    try:
        async with httpx.AsyncClient(base_url=fault_stack.url, timeout=20) as client:
            flow = Flow(client, f"Mail Crash {uuid.uuid4().hex[:6]}")
            await flow.start(people=True)
            await flow.people_known(fault_stack.env["SYMBIOSIS_DATABASE_URL"])
            await flow.run(3, rate=10)  # three proposals: six e-mails
            crashing = fault_stack.processes["notifications-crashing"]
            await asyncio.to_thread(crashing.wait, 60)
            assert crashing.returncode == -9
            fault_stack.processes.pop("notifications-crashing")
            fault_stack.start("notifications")

            async def all_sent() -> list[Any] | None:
                got = drop.to(flow.email_of("supplier")) + drop.to(flow.email_of("receiver"))
                return got if len({str(m["Message-ID"]) for m in got}) == 6 else None

            try:
                messages = await eventually(all_sent, timeout=90)
            except AssertionError:
                db = await asyncpg.connect(fault_stack.env["SYMBIOSIS_DATABASE_URL"])
                try:
                    queue = await db.fetch(
                        "SELECT to_address, status, attempts, last_error "
                        "FROM notifications.emails WHERE to_address = ANY($1::text[])",
                        [flow.email_of("supplier"), flow.email_of("receiver")],
                    )
                finally:
                    await db.close()
                raise AssertionError(
                    f"e-mails: {[dict(r) for r in queue]}; received: "
                    f"{[(m['To'], m['Message-ID']) for m in drop.messages[-10:]]}"
                ) from None
            await asyncio.sleep(2)
            messages = drop.to(flow.email_of("supplier")) + drop.to(flow.email_of("receiver"))
    finally:
        if "notifications" not in fault_stack.processes:
            fault_stack.processes.pop("notifications-crashing", None)
            fault_stack.start("notifications")
        fault_stack.wait_healthy(["notifications"])
    copies = len(messages) - len({str(m["Message-ID"]) for m in messages})
    assert copies == 1, f"{copies} e-mails sent again"  # the one in flight, and only it
