"""One origin for every service: ``/api/<service>/...`` is passed to that service, and
every other path to the web portal.

A small streaming reverse proxy (responses, including Server-Sent Events, are passed
on as they arrive). In docker compose the same gateway runs in its own container.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import httpx

from shared.http import cookieless

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


class Gateway:
    """An ASGI app routing by the first path segment after ``/api/``; the rest of the site
    (``/``, ``/listings``, ``/static/...``) is the portal's."""

    def __init__(self, upstreams: Mapping[str, str], portal: str | None = None) -> None:
        self._upstreams = dict(upstreams)
        self._portal = portal
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, read=None), cookies=cookieless()
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
            if self._portal is None:
                await self._problem(send, 404, "Not found", f"nothing is served at {path}")
                return
            await self._proxy(self._portal, scope, receive, send, "portal")
            return
        if len(parts) < 3 or parts[2] not in self._upstreams:
            await self._problem(send, 404, "Not found", f"nothing is served at {path}")
            return
        await self._proxy(self._upstreams[parts[2]], scope, receive, send, parts[2])

    async def _proxy(
        self, upstream: str, scope: Scope, receive: Receive, send: Send, name: str
    ) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        client = scope.get("client")
        if client:
            headers.append(("x-forwarded-for", client[0]))
        url = upstream + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        request = self._client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError:
            await self._problem(
                send,
                503,
                "Service unavailable",
                f"the {name} service is not reachable; try again shortly",
            )
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers.multi_items()
                        if k.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

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
        ]
        if status == 503:  # a service restarting: back in seconds
            headers.append((b"retry-after", b"5"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
