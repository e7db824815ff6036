"""The migrations runner on a real PostgreSQL."""

import asyncio
from pathlib import Path

import asyncpg
import pytest

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
