"""One origin for every service: ``/api/<service>/...`` is passed to that service, and
every other path to the web portal.

A small streaming reverse proxy on a pooled HTTP/1.1 client (aiohttp: a C parser on
asyncio's own transports): headers and bodies are passed on as the bytes they are, never
decoded or re-encoded, and responses, including Server-Sent Events, as they arrive. In
docker compose the same gateway runs in its own container.

What it holds to, whatever a client does:

- **Bodies are limited while they are read.** A request announcing more than
  ``Limits.max_body_bytes`` is refused (413) before a byte of it is read; one that sends
  more than that without announcing it is cut off at the limit. Bodies are streamed to the
  service, never gathered in memory.
- **Every hop has a timeout**: reading the client's body (408), connecting to a service,
  waiting for a free connection (503), sending to and reading from it (504: the service's
  answer must begin within ``Limits.write_seconds`` + ``Limits.read_seconds`` of the
  request, and each later piece within ``Limits.read_seconds`` of the one before). A live
  stream counts as reading: its service sends a comment every 15 s, so a stream that is
  silent for ``Limits.read_seconds`` has stalled.
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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
import yarl

from shared.observability import carrier
from shared.settings import SERVICES

log = structlog.get_logger(__name__)

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
# A response's own length is passed on (the body is passed as it came, never re-encoded).
RESPONSE_HOP_BY_HOP = {name.encode() for name in HOP_BY_HOP - {"content-length"}}
# Who the caller is, as the gateway alone may say.
FORWARDING = {"x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host"}
# Replaced by the gateway's own span's context and the request's correlation id.
TRACING = {"traceparent", "tracestate", "x-correlation-id"}
DROPPED = {name.encode() for name in HOP_BY_HOP | FORWARDING | TRACING}
# What aiohttp would add of its own to a request that lacks it: nothing but what came.
NOT_ADDED = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


@dataclass(frozen=True)
class Limits:
    """The gateway's bounds; the defaults are production's, tests shorten them."""

    max_body_bytes: int = 10 * 1024 * 1024  # as the services' own limit
    body_chunk_seconds: float = 30.0  # waiting for the next piece of a client's body
    connect_seconds: float = 5.0
    pool_seconds: float = 5.0  # waiting for a free connection to a service
    write_seconds: float = 30.0
    read_seconds: float = 60.0  # between two pieces of a service's answer
    max_connections: int = 200  # in all, for everything but live streams
    # An idle connection to a service is closed by the gateway after this long: always
    # before the service would close it (``SERVICE_KEEP_ALIVE_SECONDS``), or a request sent
    # on a connection the service is closing at that moment would fail.
    keepalive_seconds: float = 30.0


# How long a service keeps an idle connection open (uvicorn's ``timeout_keep_alive`` under
# the gateway): longer than the gateway's ``Limits.keepalive_seconds``.
SERVICE_KEEP_ALIVE_SECONDS = 75


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
        # Made in the serving event loop, on the first request (aiohttp binds to its loop).
        self._client: aiohttp.ClientSession | None = None
        self._streams: aiohttp.ClientSession | None = None

    def _sessions(self) -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        if self._client is None or self._streams is None:
            limits = self.limits
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=limits.pool_seconds + limits.connect_seconds,  # a free one, or a new one
                sock_connect=limits.connect_seconds,
                sock_read=limits.read_seconds,
            )

            def session(connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
                return aiohttp.ClientSession(
                    connector=connector,
                    timeout=timeout,
                    cookie_jar=aiohttp.DummyCookieJar(),  # each browser's cookies are its own
                    auto_decompress=False,  # bodies pass as they came
                    skip_auto_headers=NOT_ADDED,
                    raise_for_status=False,
                )

            self._client = session(
                aiohttp.TCPConnector(
                    limit=limits.max_connections,
                    limit_per_host=0,
                    keepalive_timeout=limits.keepalive_seconds,
                )
            )
            # Live streams: one connection each for as long as the browser keeps it open.
            self._streams = session(aiohttp.TCPConnector(limit=0, force_close=True))
        return self._client, self._streams

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
        open_now = 0
        for session in (self._client, self._streams):
            if session is not None:
                connector: Any = session.connector
                open_now += len(connector._acquired)
                open_now += sum(len(idle) for idle in connector._conns.values())
        return open_now

    async def _proxy(
        self, upstream: str, scope: Scope, receive: Receive, send: Send, name: str
    ) -> None:
        announced = None
        streaming = False
        headers: list[tuple[str, str]] = []
        for key, value in scope["headers"]:
            lower = key.lower()
            if lower == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = None
            elif lower == b"accept" and b"text/event-stream" in value.lower():
                streaming = True
            if lower not in DROPPED:
                headers.append((key.decode("latin-1"), value.decode("latin-1")))
        if announced is not None and announced > self.limits.max_body_bytes:
            await self._too_large(send)
            return
        # this request's trace context and correlation id (shared.observability.Observed)
        headers.extend(carrier().items())
        method = scope["method"]
        has_body = method not in ("GET", "HEAD", "OPTIONS")
        if announced is not None and has_body:
            headers.append(("Content-Length", str(announced)))
        client = scope.get("client")
        if client:
            headers.append(("X-Forwarded-For", client[0]))
        url = upstream + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        regular, live = self._sessions()
        http = live if streaming else regular
        try:
            try:
                async with asyncio.timeout(self.limits.write_seconds + self.limits.read_seconds):
                    response = await http.request(
                        method,
                        yarl.URL(url, encoded=True),  # the path as the client sent it
                        headers=headers,
                        data=self._body(receive) if has_body else None,
                        allow_redirects=False,
                        chunked=None if announced is not None or not has_body else True,
                    )
            except aiohttp.ClientError as exc:
                # aiohttp sends the body in a task of its own and wraps what stopped it
                reason = _reason(exc)
                if reason is exc:
                    raise
                raise reason from exc
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
        except aiohttp.ConnectionTimeoutError:  # no free connection, or none made in time
            await self._problem(
                send,
                503,
                "Service unavailable",
                f"the {name} service did not answer in time; try again",
            )
            return
        except TimeoutError:  # sent, and no answer in time
            await self._problem(
                send, 504, "Timeout", f"the {name} service did not answer in time; try again"
            )
            return
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("service not reachable", service=name, error=repr(exc))
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
            response.close()  # after a whole answer its connection is back in the pool

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

    async def _relay(self, response: aiohttp.ClientResponse, receive: Receive, send: Send) -> None:
        """Pass the answer on as it arrives, until it ends or the client goes away."""

        async def forward() -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": _response_headers(response.raw_headers),
                }
            )
            try:
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass  # the service went away or stalled mid-answer: end what was sent
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

    async def aclose(self) -> None:
        """Close the connections to the services."""
        for session in (self._client, self._streams):
            if session is not None:
                await session.close()
        self._client = self._streams = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _reason(exc: BaseException) -> BaseException:
    """What stopped a request: the client's body (too large, stalled, gone) when that was
    it, else aiohttp's own error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _BodyTooLarge | _BodyTimeout | _ClientGone):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = [(k, v) for k, v in raw if k.lower() not in RESPONSE_HOP_BY_HOP]
    if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
        headers.append((b"x-content-type-options", b"nosniff"))
    return headers


def route_at_edge(scope: Scope) -> str:
    """The gateway's metric label for a request: the service it went to, or the portal."""
    parts = str(scope.get("path", "")).split("/")
    if len(parts) > 2 and parts[1] == "api":
        return f"/api/{parts[2]}" if parts[2] in SERVICES else "/api/unknown"
    return "portal"
