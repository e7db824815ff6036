"""The migrations runner on a real PostgreSQL."""

import asyncio
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

import services.matching as matching_package
from shared.migrations import MigrationError, migrate

pytestmark = pytest.mark.integration


def write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(sql)


async def test_applies_each_file_once_in_order(database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY);")
    write(tmp_path, "0002_more.sql", "INSERT INTO things VALUES (1), (2);")
    conn = await asyncpg.connect(database_url)
    try:
        applied = await migrate(conn, "svc", tmp_path)
        assert applied[-2:] == ["svc/0001_things.sql", "svc/0002_more.sql"]
        assert applied[0].startswith("shared/")  # outbox and processed events come first
        assert await migrate(conn, "svc", tmp_path) == []
        assert await conn.fetchval("SELECT count(*) FROM svc.things") == 2
        assert await conn.fetchval("SELECT to_regclass('svc.outbox') IS NOT NULL")
        write(tmp_path, "0003_later.sql", "INSERT INTO things VALUES (3);")
        assert await migrate(conn, "svc", tmp_path) == ["svc/0003_later.sql"]
    finally:
        await conn.close()


async def test_an_edited_applied_file_is_refused(database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int);")
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, "svc", tmp_path)
        write(tmp_path, "0001_things.sql", "CREATE TABLE things (id bigint);")
        write(tmp_path, "0002_more.sql", "CREATE TABLE more (id int);")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            await migrate(conn, "svc", tmp_path)
        # nothing after the refused file was applied
        assert await conn.fetchval("SELECT to_regclass('svc.more')") is None
    finally:
        await conn.close()


async def test_a_failing_file_changes_nothing(database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_bad.sql", "CREATE TABLE half (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, "svc", tmp_path)
        assert await conn.fetchval("SELECT to_regclass('svc.half')") is None
        assert not await conn.fetchval(
            "SELECT count(*) FROM svc.schema_migrations WHERE set_name = 'svc'"
        )
    finally:
        await conn.close()


async def test_concurrent_runners_apply_each_file_once(database_url: str, tmp_path: Path) -> None:
    # Not idempotent on purpose: a second application would fail.
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int); SELECT pg_sleep(0.3);")
    conns = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, "svc", tmp_path) for c in conns))
        assert sorted(len([n for n in r if n.startswith("svc/")]) for r in results) == [0, 0, 1]
    finally:
        for conn in conns:
            await conn.close()


async def test_a_database_newer_than_the_code_is_refused(database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int);")
    write(tmp_path, "0002_more.sql", "CREATE TABLE more (id int);")
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, "svc", tmp_path)
        (tmp_path / "0002_more.sql").unlink()
        with pytest.raises(MigrationError, match="does not know"):
            await migrate(conn, "svc", tmp_path)
    finally:
        await conn.close()


async def test_the_matchers_far_reach_index_is_built_over_the_rows_already_indexed(
    database_url: str, tmp_path: Path
) -> None:
    """Migration 0014 of matching, on a key index that already holds rows: the partial
    index it adds holds the rows that reach beyond 100 km (or whose reach is unknown), and
    no other; the lookup reads them from it (``storage._ranked_sql``)."""
    migrations = Path(matching_package.__file__).parent / "migrations"
    for path in sorted(migrations.glob("*.sql")):
        if path.name < "0014":
            shutil.copy(path, tmp_path / path.name)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS far_reach CASCADE")
        await migrate(conn, "far_reach", tmp_path)
        rows = [(1, 20.0), (2, 100.0), (3, 300.0), (4, 1000.0), (5, None)]
        for n, reach in rows:
            listing = uuid.UUID(int=n)
            await conn.execute(
                """INSERT INTO far_reach.open_listings (listing_id, company_id, kind, ewc_code,
                       resource, title, quantity, unit, keys, keys_version)
                   VALUES ($1, $1, 'offer', $2::text, $2::text, 'x', 1, 't', ARRAY[$2::text],
                           '')""",
                listing,
                "030105",
            )
            await conn.execute(
                """INSERT INTO far_reach.open_listing_keys (listing_id, key, kind, company_id,
                       latitude, longitude, reach_km)
                   VALUES ($1, '030105', 'offer', $1, 60, 10, $2)""",
                listing,
                reach,
            )
        shutil.copy(migrations / "0014_far_reach_index.sql", tmp_path)
        assert await migrate(conn, "far_reach", tmp_path) == ["far_reach/0014_far_reach_index.sql"]
        async with conn.transaction():
            await conn.execute("SET LOCAL search_path = far_reach")
            await conn.execute("SET LOCAL enable_seqscan = off")
            await conn.execute("SET LOCAL enable_bitmapscan = off")
            query = """SELECT k.reach_km FROM open_listing_keys k WHERE k.key = '030105'
                AND k.kind = 'offer' AND k.latitude BETWEEN 50 AND 70 AND (k.reach_km > 100
                OR k.reach_km IS NULL) ORDER BY k.reach_km NULLS LAST"""
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {query}"))
            assert "open_listing_keys_far" in plan
            assert [r[0] for r in await conn.fetch(query)] == [300.0, 1000.0, None]
    finally:
        await conn.execute("DROP SCHEMA IF EXISTS far_reach CASCADE")
        await conn.close()
