"""One origin for every service: ``/api/<service>/...`` is passed to that service, and
every other path to the web portal.

A small streaming reverse proxy (responses, including Server-Sent Events, are passed
on as they arrive). In docker compose the same gateway runs in its own container.

What it holds to, whatever a client does:

- **Bodies are limited while they are read.** A request announcing more than
  ``Limits.max_body_bytes`` is refused (413) before a byte of it is read; one that sends
  more than that without announcing it is cut off at the limit. Bodies are streamed to the
  service, never gathered in memory.
- **Every hop has a timeout**: reading the client's body (408), connecting to a service,
  waiting for a free connection (503), sending to and reading from it (504). A live stream
  counts as reading: its service sends a comment every 15 s, so a stream that is silent for
  ``Limits.read_seconds`` has stalled.
- **A closed client closes its upstream.** While an answer is streamed the gateway watches
  for the client going away and then closes the service connection at once, so closed live
  streams never pile up. Live streams (``Accept: text/event-stream``) use a pool of their
  own, so open ones never take the connections the rest of the site needs.
- **Callers cannot say who they are.** ``X-Forwarded-For`` (and ``Forwarded``,
  ``X-Real-IP``) from the client are dropped; the gateway sets ``X-Forwarded-For`` to the
  address it sees, which the services use for sign-in throttling and the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx

from shared.http import cookieless
from shared.observability import carrier
from shared.settings import SERVICES

# Plain ASGI types: the proxy handles lifespan and http scopes alike.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = {
    "date",
    "server",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
# Who the caller is, as the gateway alone may say.
FORWARDING = {"x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host"}
# Replaced by the gateway's own span's context and the request's correlation id.
TRACING = {"traceparent", "tracestate", "x-correlation-id"}


@dataclass(frozen=True)
class Limits:
    """The gateway's bounds; the defaults are production's, tests shorten them."""

    max_body_bytes: int = 10 * 1024 * 1024  # as the services' own limit
    body_chunk_seconds: float = 30.0  # waiting for the next piece of a client's body
    connect_seconds: float = 5.0
    pool_seconds: float = 5.0  # waiting for a free connection to a service
    write_seconds: float = 30.0
    read_seconds: float = 60.0  # between two pieces of a service's answer
    max_connections: int = 200  # per service, for everything but live streams


class _BodyTooLarge(Exception):
    pass


class _BodyTimeout(Exception):
    pass


class _ClientGone(Exception):
    pass


class Gateway:
    """An ASGI app routing by the first path segment after ``/api/``; the rest of the site
    (``/``, ``/listings``, ``/static/...``) is the portal's."""

    def __init__(
        self, upstreams: Mapping[str, str], portal: str | None = None, limits: Limits | None = None
    ) -> None:
        self._upstreams = dict(upstreams)
        self._portal = portal
        self.limits = limits or Limits()
        timeout = httpx.Timeout(
            connect=self.limits.connect_seconds,
            read=self.limits.read_seconds,
            write=self.limits.write_seconds,
            pool=self.limits.pool_seconds,
        )
        self._client = httpx.AsyncClient(
            timeout=timeout,
            cookies=cookieless(),
            limits=httpx.Limits(
                max_connections=self.limits.max_connections,
                max_keepalive_connections=min(50, self.limits.max_connections),
            ),
        )
        # Live streams: one connection each for as long as the browser keeps it open.
        self._streams = httpx.AsyncClient(
            timeout=timeout,
            cookies=cookieless(),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        parts = path.split("/")
        if path in ("/api", "/api/") or (path == "/" and self._portal is None):
            await self._index(send)
            return
        if parts[1] != "api":
            if self._portal is None or path.rstrip("/") == "/metrics":  # for operators only
                await self._problem(send, 404, "Not found", f"nothing is served at {path}")
                return
            await self._proxy(self._portal, scope, receive, send, "portal")
            return
        if len(parts) < 3 or parts[2] not in self._upstreams:
            await self._problem(send, 404, "Not found", f"nothing is served at {path}")
            return
        await self._proxy(self._upstreams[parts[2]], scope, receive, send, parts[2])

    def open_connections(self) -> int:
        """Connections to the services now open, live streams included (for the tests)."""
        pools = (c._transport._pool for c in (self._client, self._streams))  # type: ignore[attr-defined]
        return sum(len(pool.connections) for pool in pools)

    async def _proxy(
        self, upstream: str, scope: Scope, receive: Receive, send: Send, name: str
    ) -> None:
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP | FORWARDING | TRACING
        ]
        # this request's trace context and correlation id (shared.observability.Observed)
        headers.extend(carrier().items())
        announced = _content_length(scope)
        if announced is not None and announced > self.limits.max_body_bytes:
            await self._too_large(send)
            return
        method = scope["method"]
        has_body = method not in ("GET", "HEAD", "OPTIONS")
        if announced is not None and has_body:
            headers.append(("content-length", str(announced)))
        client = scope.get("client")
        if client:
            headers.append(("x-forwarded-for", client[0]))
        url = upstream + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        streaming = any(
            k.lower() == "accept" and "text/event-stream" in v.lower() for k, v in headers
        )
        http = self._streams if streaming else self._client
        content = self._body(receive) if has_body else None
        request = http.build_request(method, url, headers=headers, content=content)
        try:
            response = await http.send(request, stream=True)
        except _BodyTooLarge:
            await self._too_large(send)
            return
        except _BodyTimeout:
            await self._problem(
                send, 408, "Request timeout", "the request body did not arrive in time"
            )
            return
        except _ClientGone:
            return
        except httpx.TimeoutException as exc:
            status, title = (503, "Service unavailable") if _waiting(exc) else (504, "Timeout")
            await self._problem(
                send, status, title, f"the {name} service did not answer in time; try again"
            )
            return
        except httpx.TransportError:
            await self._problem(
                send,
                503,
                "Service unavailable",
                f"the {name} service is not reachable; try again shortly",
            )
            return
        try:
            await self._relay(response, receive, send)
        finally:
            await response.aclose()

    async def _body(self, receive: Receive) -> AsyncIterator[bytes]:
        """The client's body as it arrives, cut off at the limit and at a stalled client."""
        seen = 0
        while True:
            try:
                async with asyncio.timeout(self.limits.body_chunk_seconds):
                    message = await receive()
            except TimeoutError:
                raise _BodyTimeout from None
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limits.max_body_bytes:
                raise _BodyTooLarge
            if chunk:
                yield chunk
            if not message.get("more_body"):
                return

    async def _relay(self, response: httpx.Response, receive: Receive, send: Send) -> None:
        """Pass the answer on as it arrives, until it ends or the client goes away."""

        async def forward() -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _response_headers(response),
                }
            )
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.TransportError:
                pass  # the service went away mid-answer: end what was sent
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        relaying = asyncio.create_task(forward())
        watching = asyncio.create_task(client_gone())
        try:
            await asyncio.wait({relaying, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relaying, watching):
                task.cancel()
            for task in (relaying, watching):
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task

    async def _too_large(self, send: Send) -> None:
        await self._problem(
            send,
            413,
            "Request body too large",
            f"the request body is larger than {self.limits.max_body_bytes} bytes",
        )

    async def _index(self, send: Send) -> None:
        body = {
            "name": "Viken Park symbiosis exchange",
            "services": {
                name: {
                    "api": f"/api/{name}/",
                    "openapi": f"/api/{name}/schema/openapi.json",
                    "docs": f"/api/{name}/schema/swagger",
                }
                for name in self._upstreams
            },
        }
        await self._json(send, 200, body, "application/json")

    async def _problem(self, send: Send, status: int, title: str, detail: str) -> None:
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        await self._json(send, status, body, "application/problem+json")

    async def _json(self, send: Send, status: int, body: Any, media_type: str) -> None:
        data = json.dumps(body).encode()
        headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(data)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        if status == 503:  # a service restarting: back in seconds
            headers.append((b"retry-after", b"5"))
        if status in (408, 413):
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._client.aclose()
                await self._streams.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _waiting(exc: httpx.TimeoutException) -> bool:
    """Whether the time ran out before the request reached the service (no connection)."""
    return isinstance(exc, httpx.PoolTimeout | httpx.ConnectTimeout)


def _response_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    headers = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.multi_items()
        if k.lower() not in HOP_BY_HOP
    ]
    if "x-content-type-options" not in response.headers:
        headers.append((b"x-content-type-options", b"nosniff"))
    return headers


def route_at_edge(scope: Scope) -> str:
    """The gateway's metric label for a request: the service it went to, or the portal."""
    parts = str(scope.get("path", "")).split("/")
    if len(parts) > 2 and parts[1] == "api":
        return f"/api/{parts[2]}" if parts[2] in SERVICES else "/api/unknown"
    return "portal"
