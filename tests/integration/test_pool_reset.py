"""The pool's reset on a real PostgreSQL (issue 19): a connection that took state outliving
its transaction (a session advisory lock, LISTEN, a session setting) comes back to the
pool without it; one that did not is handed on without asyncpg's four-statement reset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from shared.db import Pool, PooledConnection, create_pool

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "public", min_size=1, max_size=1)
    yield pool
    await pool.close()


async def reset_queries(pool: Pool, work: str, *args: Any) -> list[str]:
    """The statements the connection ran from the end of ``work`` until it was back in
    the pool."""
    seen: list[str] = []

    def logged(record: Any) -> None:
        seen.append(record.query)

    async with pool.acquire() as conn:
        raw = conn._con  # type: ignore[attr-defined]  # the connection behind the proxy
        await conn.execute(work, *args)
        raw.add_query_logger(logged)
    await asyncio.sleep(0.05)  # query loggers are called soon after, not at once
    raw.remove_query_logger(logged)
    return seen


async def test_a_plain_checkout_is_not_reset(pool: Pool) -> None:
    assert await reset_queries(pool, "SELECT 1") == []
    assert await reset_queries(pool, "UPDATE pg_namespace SET nspname = nspname WHERE false") == []
    assert await reset_queries(pool, "SELECT pg_advisory_xact_lock(42)") == []


@pytest.mark.parametrize(
    "work",
    [
        "SELECT pg_advisory_lock(4711)",
        "SELECT pg_try_advisory_lock(1, 2)",
        "LISTEN somewhere",
        "SET statement_timeout = '5s'",
        "SELECT set_config('statement_timeout', '5s', false)",
    ],
)
async def test_a_connection_with_session_state_comes_back_without_it(pool: Pool, work: str) -> None:
    queries = await reset_queries(pool, work)
    assert any("pg_advisory_unlock_all" in q and "RESET ALL" in q for q in queries), queries
    async with pool.acquire() as conn:  # the same connection: the pool holds one
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                "pg_backend_pid()"
            )
            == 0
        )
        assert await conn.fetchval("SHOW statement_timeout") == "0"
    # and the next plain checkout is not reset again
    assert await reset_queries(pool, "SELECT 1") == []


@pytest.mark.filterwarnings("ignore:.*active notification listener")
async def test_a_listener_added_through_asyncpg_is_reset(pool: Pool) -> None:
    async with pool.acquire() as conn:
        await conn.add_listener("elsewhere", lambda *_: None)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0


async def test_a_session_lock_taken_with_arguments_is_released(pool: Pool) -> None:
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", 7, 8)
    other = await asyncpg.connect(pool._connect_args[0])  # type: ignore[attr-defined]
    try:  # another session can take it: the pooled one let it go
        assert await other.fetchval("SELECT pg_try_advisory_lock($1, $2)", 7, 8)
    finally:
        await other.close()


async def test_the_pool_makes_connections_that_note_session_state(pool: Pool) -> None:
    async with pool.acquire() as conn:
        assert isinstance(conn._con, PooledConnection)  # type: ignore[attr-defined]
