"""PostgreSQL access: one asyncpg pool per service, confined to the service's schema."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Pool: TypeAlias = asyncpg.Pool[Any]
    Connection: TypeAlias = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]
else:  # asyncpg's classes are generic only in its stubs
    Pool = asyncpg.Pool
    Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# The database cannot be reached or has gone away: the connection was refused, lost or
# terminated (PostgreSQL shutting down, or an administrator ending the backend). Answered
# as an outage (503), retried by consumers, never a server error.
DATABASE_LOST: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)

Row = TypeVar("Row", bound="DataclassInstance")


def record_as(cls: type[Row], record: Mapping[str, Any] | asyncpg.Record) -> Row:
    """The record as the frozen dataclass ``cls`` that names its row: each field taken from
    the column of its name (a field the query does not select keeps its default)."""
    return cls(**{name: record[name] for name in _field_names(cls) if name in record})


@functools.cache
def _field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def records_as(cls: type[Row], records: Iterable[Mapping[str, Any] | asyncpg.Record]) -> list[Row]:
    return [record_as(cls, record) for record in records]


_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def is_alive(conn: Connection | None) -> bool:
    """Whether a connection held for long (a LISTEN, a lock) can still be used: not closed
    by the server, and not taken back by its pool (asyncpg then refuses every call on it,
    ``is_closed`` included)."""
    if conn is None:
        return False
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    return schema


async def init_connection(conn: Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """A pool whose connections see the service's own schema first and decode JSON."""
    check_schema_name(schema)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        server_settings={"search_path": f"{schema}, public", "application_name": schema},
    )
    assert pool is not None
    return pool


async def ensure_database(dsn: str) -> None:
    """Create the database named in ``dsn`` if the server lacks it (embedded first run)."""
    params = _dsn_database(dsn)
    if params is None:
        return
    admin_dsn, database = params
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
    else:
        await conn.close()


def _dsn_database(dsn: str) -> tuple[str, str] | None:
    match = re.match(
        r"^(?P<base>postgres(?:ql)?://[^/]+)/(?P<db>[A-Za-z0-9_]+)(?P<rest>\?.*)?$", dsn
    )
    if not match or match["db"] == "postgres":
        return None
    return f"{match['base']}/postgres{match['rest'] or ''}", match["db"]
