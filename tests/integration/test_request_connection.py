"""One pool checkout per HTTP request (issue 19), on a real PostgreSQL and the services'
own middleware (``shared.service.http_middleware``): the credential's revocation check,
the idempotency claim and the handler's queries share the request's one connection, which
goes back to the pool when the answer starts, so a live stream's later queries and
overlapping queries take connections of their own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.response import Stream
from litestar.testing import AsyncTestClient

from services.listings.config import ListingsSettings
from shared.auth import (
    TokenVerifier,
    ensure_signing_keys,
    issue_api_key,
    load_private_key,
    load_public_key,
)
from shared.db import Pool, create_pool
from shared.events import ApiKeyRevoked
from shared.http import EXCEPTION_HANDLERS
from shared.revocations import record_revocation
from shared.service import http_middleware, provide_pool, provide_settings
from tests.support import migrated_pool

pytestmark = pytest.mark.integration


@get("/two-queries")
async def two_queries(pool: NamedDependency[Pool]) -> dict[str, int]:
    first = await pool.fetchval("SELECT 1")
    async with pool.acquire() as conn:
        second = await conn.fetchval("SELECT 2")
    return {"sum": first + second}


@get("/overlapping")
async def overlapping(pool: NamedDependency[Pool]) -> dict[str, list[int]]:
    values = await asyncio.gather(*(pool.fetchval("SELECT $1::int", n) for n in range(3)))
    return {"values": list(values)}


@post("/writes", status_code=201)
async def writes(pool: NamedDependency[Pool]) -> dict[str, int]:
    return {"value": await pool.fetchval("SELECT 42")}


@get("/stream")
async def stream(pool: NamedDependency[Pool]) -> Stream:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        # after the answer started: with a pool of one, this waits forever unless the
        # request's connection went back when the answer started
        yield f"{await pool.fetchval('SELECT 7')}\n".encode()

    return Stream(chunks())


@pytest.fixture
def keys(tmp_path: Path) -> ListingsSettings:
    keys = ListingsSettings(data_dir=tmp_path)
    ensure_signing_keys(keys)
    return keys


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    """The test's own pool of the schema (the app makes its own in its event loop)."""
    async with migrated_pool(database_url, "matching") as pool:
        yield pool


@contextlib.asynccontextmanager
async def serving(
    database_url: str, keys: ListingsSettings, size: int
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The handlers above behind the services' middleware, on a pool of ``size``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, "matching", min_size=1, max_size=size)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = Litestar(
        route_handlers=[
            Router("/api/matching", route_handlers=[two_queries, overlapping, writes, stream])
        ],
        lifespan=[lifespan],
        state=State({"settings": keys}),
        dependencies={
            "pool": Provide(provide_pool, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=http_middleware(
            TokenVerifier(load_public_key(keys.public_key_path)), "/api/matching"
        ),
    )
    async with AsyncTestClient(app=app, timeout=10) as running:
        yield running


@pytest.fixture
async def client(
    pool: Pool, database_url: str, keys: ListingsSettings
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with serving(database_url, keys, 1) as running:
        yield running


@contextlib.contextmanager
def counted_checkouts() -> Iterator[list[int]]:
    """How many times the service's pool hands out a connection meanwhile."""
    seen = [0]
    original = asyncpg.Pool.acquire

    def acquire(self: Any, *, timeout: float | None = None) -> Any:
        seen[0] += 1
        return original(self, timeout=timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncpg.Pool, "acquire", acquire)
        yield seen


def bearer(keys: ListingsSettings, key_id: uuid.UUID | None = None) -> dict[str, str]:
    key = issue_api_key(
        load_private_key(keys.private_key_path), key_id or uuid.uuid4(), uuid.uuid4(), "admin"
    )
    return {"Authorization": f"Bearer {key}"}


async def all_back(client: AsyncTestClient[Litestar]) -> bool:
    """Whether every connection of the app's pool is back in it."""
    pool: Pool = client.app.state.pool
    for _ in range(50):
        if pool.get_idle_size() == pool.get_size():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_request_checks_out_one_connection_for_its_credential_and_its_queries(
    client: AsyncTestClient[Litestar], pool: Pool, keys: ListingsSettings
) -> None:
    with counted_checkouts() as checkouts:
        answer = await client.get("/api/matching/two-queries", headers=bearer(keys))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"sum": 3}
    assert checkouts[0] == 1  # was 3: the revocation check, then one per statement
    assert await all_back(client)


async def test_an_idempotent_post_shares_its_connection_with_the_credential_check(
    client: AsyncTestClient[Litestar], pool: Pool, keys: ListingsSettings
) -> None:
    headers = bearer(keys) | {"Idempotency-Key": str(uuid.uuid4())}
    with counted_checkouts() as checkouts:
        first = await client.post("/api/matching/writes", headers=headers)
        again = await client.post("/api/matching/writes", headers=headers)
    assert (first.status_code, first.json()) == (201, {"value": 42})
    assert (again.status_code, again.json()) == (201, {"value": 42})
    assert again.headers.get("idempotent-replayed") == "true"
    assert checkouts[0] == 2  # one per request: was two each
    assert await all_back(client)


async def test_a_revoked_key_is_still_refused(
    client: AsyncTestClient[Litestar], pool: Pool, keys: ListingsSettings
) -> None:
    key_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await record_revocation(
            conn, ApiKeyRevoked(key_id=key_id, company_id=None, revoked_at=datetime.now(UTC))
        )
    answer = await client.get("/api/matching/two-queries", headers=bearer(keys, key_id))
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]
    assert await all_back(client)


async def test_overlapping_queries_of_one_request_take_their_own_connections(
    pool: Pool, database_url: str, keys: ListingsSettings
) -> None:
    async with serving(database_url, keys, 3) as client:
        answer = await client.get("/api/matching/overlapping", headers=bearer(keys))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"values": [0, 1, 2]}
        assert await all_back(client)


async def test_the_connection_goes_back_when_the_answer_starts(
    client: AsyncTestClient[Litestar], keys: ListingsSettings
) -> None:
    assert client.app.state.pool.get_max_size() == 1
    answer = await client.get("/api/matching/stream", headers=bearer(keys))
    assert answer.status_code == 200, answer.text
    assert answer.text == "first\n7\n"
    assert await all_back(client)
