"""The gateway and the portal's API client act for many people at once: a cookie that one
answer sets must reach that person's browser and never ride along on anyone else's
request (a shared cookie jar once signed a stranger in as the last person who did)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.portal.client import Services
from symbiosis.gateway import Gateway

pytestmark = pytest.mark.integration


class Upstream(BaseHTTPRequestHandler):
    """Sets a session cookie on /api/listings/set; says which cookie came on /echo."""

    def do_GET(self) -> None:
        self.send_response(200)
        if self.path.endswith("/set"):
            self.send_header("Set-Cookie", "vp_session=alice; Path=/; HttpOnly")
        self.send_header("Content-Type", "application/json")
        body = ('{"cookie": "%s"}' % (self.headers.get("Cookie") or "")).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


async def test_the_gateway_passes_cookies_on_and_keeps_none(upstream: str) -> None:
    gateway = Gateway({"listings": upstream}, portal=upstream)
    transport = httpx.ASGITransport(app=gateway)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://park") as alice,
        httpx.AsyncClient(transport=transport, base_url="http://park") as bob,
    ):
        signed_in = await alice.get("/api/listings/set")
        assert "vp_session=alice" in signed_in.headers["set-cookie"]  # to Alice's browser
        assert (await bob.get("/api/listings/echo")).json() == {"cookie": ""}
        assert (await bob.get("/sign-in")).json() == {"cookie": ""}  # the portal's paths too
        assert (await alice.get("/api/listings/echo")).json() == {"cookie": "vp_session=alice"}


async def test_the_portal_api_client_keeps_no_cookies(upstream: str) -> None:
    services = Services({"listings": upstream})
    try:
        await services.as_person("alice-token", "en").get("listings", "/set")
        answer = await services.as_person("bob-token", "en").get("listings", "/echo")
        assert answer == {"cookie": ""}
    finally:
        await services.aclose()
