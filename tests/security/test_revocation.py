"""Revocation holds within seconds at every service (issue 15, finding 3): a disabled
person's token worked at all four services for up to an hour, an API key they made
outlived them, and open live streams went on after their key was revoked or their token
ran out."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from services.listings.config import ListingsSettings
from shared.auth import issue_access_token, load_private_key
from tests.security.probes import bearer, colleague, company_with_admin
from tests.support import Stack, eventually

pytestmark = pytest.mark.e2e

# One read-only path per service; each answers 200 to a company's valid credential.
EVERY_SERVICE = (
    "/api/listings/companies/me",
    "/api/matching/proposals/",
    "/api/contracts/proposals/",
    "/api/notifications/inbox/",
)
WITHIN_SECONDS = 10


async def statuses(client: httpx.AsyncClient, token: str) -> list[int]:
    return [(await client.get(path, headers=bearer(token))).status_code for path in EVERY_SERVICE]


async def refused_everywhere(client: httpx.AsyncClient, token: str) -> bool:
    return await statuses(client, token) == [401] * len(EVERY_SERVICE)


@asynccontextmanager
async def live_stream(stack: Stack, token: str) -> AsyncIterator[asyncio.Task[float]]:
    """An open inbox stream; the task ends (with the time) when the service ends it."""
    http = httpx.AsyncClient(base_url=stack.url, timeout=httpx.Timeout(10, read=60))
    opened = asyncio.Event()

    async def read() -> float:
        async with http.stream(
            "GET",
            "/api/notifications/inbox/stream",
            headers={**bearer(token), "Accept": "text/event-stream"},
        ) as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("event: unread"):
                    opened.set()
        return time.monotonic()

    task = asyncio.create_task(read())
    try:
        await asyncio.wait_for(opened.wait(), 15)
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await http.aclose()


async def test_disabling_a_person_ends_their_tokens_keys_and_streams_everywhere(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    company = await company_with_admin(client, "Revoking Works AS")
    leaver = await colleague(client, company)
    assert await statuses(client, leaver["token"]) == [200] * 4
    # the leaver makes a key, and with that key another one
    key = await client.post(
        "/api/listings/api-keys/", json={"label": "mine"}, headers=bearer(leaver["token"])
    )
    assert key.status_code == 201, key.text
    second = await client.post(
        "/api/listings/api-keys/", json={"label": "mine too"}, headers=bearer(key.json()["api_key"])
    )
    assert second.status_code == 201, second.text
    keys = [key.json()["api_key"], second.json()["api_key"]]
    assert await statuses(client, keys[1]) == [200] * 4

    async with live_stream(stack, leaver["token"]) as stream:
        disabled = await client.delete(
            f"/api/listings/people/{leaver['id']}", headers=bearer(company["token"])
        )
        assert disabled.status_code == 200, disabled.text
        asked = time.monotonic()
        for credential in (leaver["token"], *keys):
            await eventually(lambda c=credential: refused_everywhere(client, c), WITHIN_SECONDS)
        ended = await asyncio.wait_for(stream, WITHIN_SECONDS)
        assert ended - asked < WITHIN_SECONDS
    # their keys are listed as revoked; the company's own keys still work
    listed = (await client.get("/api/listings/api-keys/", headers=company["headers"])).json()
    mine = {k["label"]: k for k in listed}
    assert mine["mine"]["revoked_at"] and mine["mine too"]["revoked_at"]
    assert await statuses(client, company["api_key"]) == [200] * 4
    assert await statuses(client, company["token"]) == [200] * 4
    # and they cannot sign in again
    again = await client.post(
        "/api/listings/auth/token",
        json={"email": leaver["email"], "password": "correct horse battery staple"},
    )
    assert again.status_code == 401


async def test_revoking_a_key_ends_its_open_stream(client: httpx.AsyncClient, stack: Stack) -> None:
    company = await company_with_admin(client, "Key Revoker AS")
    made = await client.post(
        "/api/listings/api-keys/", json={"label": "dashboard"}, headers=company["headers"]
    )
    key = made.json()
    async with live_stream(stack, key["api_key"]) as stream:
        revoked = await client.delete(
            f"/api/listings/api-keys/{key['id']}", headers=company["headers"]
        )
        assert revoked.status_code == 200
        asked = time.monotonic()
        ended = await asyncio.wait_for(stream, WITHIN_SECONDS)
        assert ended - asked < WITHIN_SECONDS
    await eventually(lambda: refused_everywhere(client, key["api_key"]), WITHIN_SECONDS)


async def test_a_stream_ends_when_its_token_runs_out(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    company = await company_with_admin(client, "Short Token AS")
    me = (await client.get("/api/listings/people/", headers=bearer(company["token"]))).json()[0]
    signing_key = load_private_key(ListingsSettings(data_dir=stack.data_dir).private_key_path)
    short = issue_access_token(
        signing_key, uuid.UUID(me["id"]), uuid.UUID(company["company"]["id"]), "admin", 4
    )
    async with live_stream(stack, short) as stream:
        ended = await asyncio.wait_for(stream, 15)
        assert ended  # the service closed it; the client did not


async def test_signing_out_ends_that_token_alone_everywhere(
    client: httpx.AsyncClient,
) -> None:
    company = await company_with_admin(client, "Signing Out AS")
    other_device = (
        await client.post(
            "/api/listings/auth/token",
            json={"email": company["email"], "password": "correct horse battery staple"},
        )
    ).json()["access_token"]
    out = await client.post("/api/listings/auth/sign-out", headers=bearer(company["token"]))
    assert out.status_code == 204
    await eventually(lambda: refused_everywhere(client, company["token"]), WITHIN_SECONDS)
    assert await statuses(client, other_device) == [200] * 4
    # an API key does not sign out
    key_out = await client.post("/api/listings/auth/sign-out", headers=company["headers"])
    assert key_out.status_code == 400
