"""`Idempotency-Key` on POST: a retried request returns the first answer and does nothing new.

The first request with a key claims it (a row without a response), runs, and stores its
answer unless that answer is a server error (then the claim is dropped so the client can
retry). A later request with the same key and the same method, path and body gets the
stored answer with ``Idempotent-Replayed: true``; with a different body, a 422 problem;
while the first is still running, a 409 problem. A claim left by a crashed process is
taken over after ``ABANDONED_AFTER``: that rare case can run the request twice.
Keys are scoped to the caller (or to anonymous callers as a whole) and kept for a day.
"""

from __future__ import annotations

import hashlib
import json

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
from shared.db import Pool

HEADER = b"idempotency-key"
ABANDONED_AFTER_SECONDS = 60
KEPT_HOURS = 24


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


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
        user = scope.get("user")
        owner = str(user.subject_id) if isinstance(user, Principal) else "anonymous"
        digest = hashlib.sha256(b"\0".join([b"POST", scope["path"].encode(), body])).hexdigest()
        pool: Pool = scope["app"].state.pool

        claimed = await pool.fetchval(
            f"""
            INSERT INTO idempotency_keys (owner, key, request_hash) VALUES ($1, $2, $3)
            ON CONFLICT (owner, key) DO UPDATE
                SET request_hash = excluded.request_hash, created_at = now(),
                    status_code = NULL, body = NULL, completed_at = NULL
                WHERE idempotency_keys.created_at < now() - interval '{KEPT_HOURS} hours'
                   OR (idempotency_keys.completed_at IS NULL
                       AND idempotency_keys.created_at
                           < now() - interval '{ABANDONED_AFTER_SECONDS} seconds')
            RETURNING true
            """,
            owner,
            key,
            digest,
        )
        if not claimed:
            row = await pool.fetchrow(
                "SELECT * FROM idempotency_keys WHERE owner = $1 AND key = $2", owner, key
            )
            if row is None or row["request_hash"] != digest:
                await _problem(
                    send,
                    422,
                    "Idempotency-Key reused",
                    "this Idempotency-Key was used with a different request",
                )
            elif row["completed_at"] is None:
                await _problem(
                    send,
                    409,
                    "Request in progress",
                    "a request with this Idempotency-Key is still being processed",
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
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
            await send(message)

        try:
            await next_app(scope, replay_body, capture)
        finally:
            if status >= 500:
                await pool.execute(
                    "DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2", owner, key
                )
            else:
                await pool.execute(
                    """
                    UPDATE idempotency_keys SET status_code = $3, content_type = $4, body = $5,
                           completed_at = now()
                    WHERE owner = $1 AND key = $2
                    """,
                    owner,
                    key,
                    status,
                    content_type,
                    b"".join(parts),
                )

    @staticmethod
    async def _replay(send: Send, status: int, content_type: str, body: bytes) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            (b"idempotent-replayed", b"true"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
