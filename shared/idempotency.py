"""`Idempotency-Key` on POST: a retried request returns the first answer and does nothing new.

A POST with a key runs in one database transaction that holds both the claim on the key
and everything the handler does (the handler's ``pool`` is that transaction's connection),
and the answer is stored in it before it commits; only then is the answer sent. So:

- a crash before the commit leaves neither the effects nor the claim, and the retry runs
  the request once; after the commit, the retry gets the stored answer;
- a retry that arrives while the first is still running waits for it (the claim's row is
  locked) and then gets its answer, or runs when the first failed;
- a server error rolls back the effects and the claim alike, so the client may retry.

A later request with the same key and the same method, path and body gets the stored answer
with ``Idempotent-Replayed: true``; with a different body, a 422 problem. Keys belong to the
caller (an anonymous caller is told apart by its address) and are kept for a day.

Secrets in an answer (an API key, a token, a password) are never stored: the stored answer
holds ``sha256:<hex>`` in their place, which a replay returns (a client that kept the first
answer can check it against the secret it has).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import (
    ASGIApp,
    HTTPDisconnectEvent,
    HTTPRequestEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from shared.auth import Principal
from shared.db import DATABASE_LOST, Connection, Pool, lent_pool
from shared.failpoints import crash_here

# The database unreachable or gone: answered 503, the client retries with the same key.
UNREACHABLE: tuple[type[Exception], ...] = (OSError, *DATABASE_LOST)

HEADER = b"idempotency-key"
KEPT_HOURS = 24
# How long a retry waits for the first request with its key before it is told to wait.
WAIT_FOR_FIRST = "30s"
# Field names whose values are secrets shown once: stored only as their SHA-256.
SECRET_FIELDS = frozenset(
    {"api_key", "password", "access_token", "refresh_token", "secret", "token", "client_secret"}
)
STATE_KEY = "idempotent_connection"


def _header(scope: Scope, name: bytes) -> str | None:
    found = None
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            found = str(value.decode("latin-1"))  # the last one: a proxy appends its own
    return found


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 503:
        headers.append((b"retry-after", b"5"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def without_secrets(body: bytes, content_type: str) -> bytes:
    """The answer as it may be kept: every secret field's value replaced by its SHA-256."""
    if "json" not in content_type:
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    "sha256:" + hashlib.sha256(item.encode()).hexdigest()
                    if key in SECRET_FIELDS and isinstance(item, str)
                    else scrub(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    return json.dumps(scrub(document)).encode()


def _caller(scope: Scope) -> str:
    """Whose the key is: the principal, or an anonymous caller's address."""
    user = scope.get("user")
    if isinstance(user, Principal):
        return str(user.subject_id)
    forwarded = _header(scope, b"x-forwarded-for")
    client = scope.get("client")
    address = (forwarded.split(",")[-1].strip() if forwarded else None) or (
        client[0] if client else "unknown"
    )
    return f"anonymous@{address}"


class RequestConnection(asyncpg.Pool):
    """What the handlers of an idempotent POST get as their ``pool``: the one connection
    whose transaction also holds the claim on the key (their own transactions nest in it
    as savepoints). A Pool to the framework's type checks, but only what handlers use of a
    pool is offered; it never opens or closes connections itself."""

    __slots__ = ("_request_conn",)

    def __init__(self, conn: Connection) -> None:  # no pool of its own: not super().__init__
        self._request_conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:  # type: ignore[override]
        yield self._request_conn

    async def execute(self, query: str, *args: Any) -> str:  # type: ignore[override]
        return await self._request_conn.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:  # type: ignore[override]
        return await self._request_conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:  # type: ignore[override]
        return await self._request_conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:  # type: ignore[override]
        return await self._request_conn.fetchval(query, *args)


def request_pool(scope: Scope, pool: Pool) -> Pool:
    """The pool a handler uses: the idempotent request's connection when there is one."""
    state = scope.get("state") or {}
    conn = state.get(STATE_KEY)
    return cast("Pool", RequestConnection(conn)) if conn is not None else pool


class IdempotencyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        key = _header(scope, HEADER)
        if scope.get("method") != "POST" or key is None:
            await next_app(scope, receive, send)
            return
        if not 1 <= len(key) <= 255:
            await _problem(
                send,
                400,
                "The request is not valid",
                "Idempotency-Key must have 1 to 255 characters",
            )
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message["body"])
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        owner = _caller(scope)
        digest = hashlib.sha256(b"\0".join([b"POST", scope["path"].encode(), body])).hexdigest()
        pool: Pool = lent_pool(scope) or scope["app"].state.pool  # the request's connection
        try:
            async with pool.acquire() as conn:
                await self._once(scope, send, next_app, conn, owner, key, digest, body)
        except UNREACHABLE:
            await _problem(
                send,
                503,
                "Service unavailable",
                "the database cannot be reached; try again shortly with the same "
                "Idempotency-Key (it answers once the request is done, or does it once)",
            )

    async def _once(
        self,
        scope: Scope,
        send: Send,
        next_app: ASGIApp,
        conn: Connection,
        owner: str,
        key: str,
        digest: str,
        body: bytes,
    ) -> None:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(f"SET LOCAL lock_timeout = '{WAIT_FOR_FIRST}'")
            # Waits while another request holds this key, until it commits or rolls back.
            claimed = await conn.fetchval(
                f"""
                INSERT INTO idempotency_keys (owner, key, request_hash) VALUES ($1, $2, $3)
                ON CONFLICT (owner, key) DO UPDATE
                    SET request_hash = excluded.request_hash, created_at = now(),
                        status_code = NULL, body = NULL, completed_at = NULL
                    WHERE idempotency_keys.created_at < now() - interval '{KEPT_HOURS} hours'
                RETURNING true
                """,
                owner,
                key,
                digest,
            )
        except asyncpg.LockNotAvailableError:
            await transaction.rollback()
            await _problem(
                send,
                409,
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; try again",
            )
            return
        except BaseException:
            await transaction.rollback()
            raise
        if not claimed:
            row = await conn.fetchrow(
                "SELECT * FROM idempotency_keys WHERE owner = $1 AND key = $2", owner, key
            )
            await transaction.rollback()
            if row is None or row["request_hash"] != digest:
                await _problem(
                    send,
                    422,
                    "Idempotency-Key reused",
                    "this Idempotency-Key was used with a different request",
                )
            else:
                await self._replay(send, row["status_code"], row["content_type"], row["body"])
            return

        replayed = False

        async def replay_body() -> HTTPRequestEvent | HTTPDisconnectEvent:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        content_type = "application/json"
        held: list[Message] = []

        async def hold(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            held.append(message)

        scope.setdefault("state", {})[STATE_KEY] = conn
        try:
            await next_app(scope, replay_body, hold)
        except BaseException:
            await transaction.rollback()
            raise
        finally:
            scope["state"].pop(STATE_KEY, None)
        crash_here("idempotency.before_commit")
        if status >= 500:
            await transaction.rollback()  # nothing happened; the client may try again
        else:
            answer = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
            try:
                await conn.execute(
                    """
                    UPDATE idempotency_keys SET status_code = $3, content_type = $4, body = $5,
                           completed_at = now()
                    WHERE owner = $1 AND key = $2
                    """,
                    owner,
                    key,
                    status,
                    content_type,
                    without_secrets(answer, content_type),
                )
            except BaseException:
                await transaction.rollback()
                raise
            await transaction.commit()
        for message in held:
            await send(message)

    @staticmethod
    async def _replay(send: Send, status: int, content_type: str, body: bytes) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            (b"idempotent-replayed", b"true"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
