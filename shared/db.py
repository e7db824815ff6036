"""PostgreSQL access: one asyncpg pool per service, confined to the service's schema."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    _BaseConnection: TypeAlias = asyncpg.Connection[Any]
    Pool: TypeAlias = asyncpg.Pool[Any]
    Connection: TypeAlias = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]
else:  # asyncpg's classes are generic only in its stubs
    _BaseConnection = asyncpg.Connection
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

# Statements that leave state in the session, beyond their transaction: a session advisory
# lock (``pg_advisory_lock``, ``pg_try_advisory_lock``, shared or not; the ``_xact_`` ones
# end with their transaction), LISTEN, a declared cursor (WITH HOLD outlives its
# transaction), a session setting (``SET`` but ``SET LOCAL``, ``set_config``). Found
# anywhere in a statement's text: a false alarm costs one reset, a miss would leak.
_SESSION_SQL = re.compile(
    r"advisory_lock|\blisten\b|\bdeclare\b|set_config|"
    r"(?:^|;)\s*set\s+(?!local\b|transaction\b|constraints\b)",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def _takes_session_state(query: str) -> bool:
    """Whether ``query`` may leave state in the session (``_SESSION_SQL``). Remembered by
    text: a service sends the same few hundred statements again and again, and the search
    over a long statement cost 8 % of the matcher's CPU when it ran for every one."""
    return _SESSION_SQL.search(query) is not None


# What a pool's release may raise when the connection it resets is broken (asyncpg has
# terminated it by then): ``RequestPool`` lets it go, the request's answer is on its way.
_LEAVES_CONNECTION_IN_DOUBT: tuple[type[Exception], ...] = (
    *DATABASE_LOST,
    asyncpg.InternalClientError,
)


class CommitRolledBack(asyncpg.InFailedSQLTransactionError):
    """A COMMIT that PostgreSQL answered with ROLLBACK: a statement of the transaction had
    failed (and was caught), so nothing of it was kept. PostgreSQL says so only in the
    answer's tag, which asyncpg's transactions do not read."""


def _is_commit(query: str) -> bool:
    return query.strip().rstrip(";").strip().upper() in ("COMMIT", "END", "COMMIT WORK")


class PooledConnection(_BaseConnection):
    """A pooled connection that notes whether it took state that outlives a transaction
    (``_SESSION_SQL``), so that the pool runs asyncpg's reset query (``pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``) only for such a connection when it comes back, not
    after every checkout. Every statement passes through ``execute`` (text without
    arguments) or ``_get_statement`` (everything prepared: fetch*, execute with arguments,
    executemany, cursors).

    Two failures of the connection itself are handled here (``_watched``):
    - a statement that fails because the connection was lost (``DATABASE_LOST``) marks it,
      so that the reset query runs when it comes back, and asyncpg terminates it when that
      fails, rather than lend it again;
    - asyncpg's protocol out of step with the server (``InternalClientError``, "cannot switch
      to state ...; another operation (2) is in progress"). A dying server's backend sends
      its FATAL error to an idle connection; asyncpg, expecting nothing, waits for a sync
      that never comes, and the next statement on the connection fails so. The connection
      can never be used again: it is terminated, and the statement fails as a lost
      connection (a 503, retried by consumers), not as a server error. asyncpg raises
      InterfaceError, not this, for two statements at once on one connection.

    And a COMMIT that PostgreSQL answers with a rollback (a statement of the transaction
    failed and was caught) raises ``CommitRolledBack`` instead of passing for a commit, so
    nothing takes work that was thrown away for done (an event for applied)."""

    session_state = False

    def _note(self, query: str) -> None:
        if not self.session_state and _takes_session_state(query):
            self.session_state = True

    @contextlib.contextmanager
    def _watched(self) -> Iterator[None]:
        try:
            yield
        except asyncpg.InternalClientError as exc:
            self.terminate()
            raise asyncpg.ConnectionDoesNotExistError(
                "the connection was out of step with its server (an error came while it was "
                "idle) and was terminated"
            ) from exc
        except DATABASE_LOST:
            self.session_state = True
            raise

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:  # noqa: ASYNC109  (asyncpg's signature)
        self._note(query)
        with self._watched():
            status = await super().execute(query, *args, timeout=timeout)
        if status == "ROLLBACK" and _is_commit(query):
            raise CommitRolledBack(
                "the transaction had failed and PostgreSQL rolled it back at COMMIT: nothing "
                "of it was kept"
            )
        return status

    async def _get_statement(self, query: str, timeout: float | None, **options: Any) -> Any:  # noqa: ASYNC109
        self._note(query)
        with self._watched():
            return await super()._get_statement(query, timeout, **options)  # type: ignore[misc]

    async def _do_execute(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super()._do_execute(*args, **kwargs)  # type: ignore[misc]

    async def _executemany(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super()._executemany(*args, **kwargs)  # type: ignore[misc]


async def reset_connection(conn: asyncpg.Connection[Any]) -> None:
    """What the pool does with a connection that comes back, after asyncpg rolled back a
    transaction left open and dropped its listeners' callbacks: asyncpg's reset query when
    the connection took session state, nothing otherwise."""
    if not getattr(conn, "session_state", True):
        return
    query = conn.get_reset_query()
    if query:
        await conn.execute(query)
    if isinstance(conn, PooledConnection):
        conn.session_state = False


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
        connection_class=PooledConnection,
        reset=reset_connection,
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


LENT_POOL = "lent_pool"  # the request's RequestPool in the ASGI scope's state


class RequestPool(asyncpg.Pool):  # asyncpg's Pool to the handlers' type checks
    """One HTTP request's view of the service's pool: the first statement checks a
    connection out, and every later one of the request (the credential's revocation check,
    the handler's queries, an idempotent POST's transaction) runs on that same connection,
    so a request costs one checkout, not one per statement. The connection goes back when
    the answer starts (``answered``): what runs after that (a live stream's later queries, a
    background task) checks out its own, as does a use that overlaps one in progress (two
    statements cannot share a connection at once). Only what handlers use of a pool is
    offered; it never opens or closes connections itself."""

    __slots__ = ("_busy", "_done", "_held", "_pool_of_request")

    def __init__(self, pool: Pool) -> None:  # no connections of its own: not super().__init__
        self._pool_of_request = pool
        self._held: Any = None  # the connection checked out (a pool's proxy)
        self._busy = False
        self._done = False

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:  # type: ignore[override]
        if self._busy or self._done:
            async with self._pool_of_request.acquire() as conn:
                yield conn
            return
        if self._held is None:
            self._held = await self._pool_of_request.acquire()
        self._busy = True
        try:
            yield self._held
        finally:
            self._busy = False
            if self._done:
                await self._give_back()

    async def answered(self) -> None:
        """The request is answered: its connection goes back (at once, or when the use in
        progress ends)."""
        self._done = True
        if not self._busy:
            await self._give_back()

    async def _give_back(self) -> None:
        conn, self._held = self._held, None
        if conn is None:
            return
        # a reset that fails has had asyncpg terminate the connection, and the request's
        # answer (a 503 when its own statement failed) is already on its way
        with contextlib.suppress(*_LEAVES_CONNECTION_IN_DOUBT):
            await self._pool_of_request.release(conn)

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109
        async with self.acquire() as conn:
            return await conn.execute(query, *args, timeout=timeout)

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        async with self.acquire() as conn:
            await conn.executemany(command, args, timeout=timeout)

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]:  # type: ignore[override]  # noqa: ASYNC109
        async with self.acquire() as conn:
            return await conn.fetch(query, *args, timeout=timeout)

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any:  # type: ignore[override]  # noqa: ASYNC109
        async with self.acquire() as conn:
            return await conn.fetchrow(query, *args, timeout=timeout)

    async def fetchval(
        self,
        query: str,
        *args: Any,
        column: int = 0,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args, column=column, timeout=timeout)


def lent_pool(scope: Mapping[str, Any]) -> RequestPool | None:
    """The request's ``RequestPool``, when the service lends one (``LendConnection``)."""
    state = scope.get("state") or {}
    lent = state.get(LENT_POOL)
    return lent if isinstance(lent, RequestPool) else None
