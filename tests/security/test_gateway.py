"""The gateway holds whatever a client does (issue 15, findings 1 and 7): closed live
streams leave no upstream connections behind, bodies are limited while they are read, and
every hop has a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from shared.settings import Settings
from symbiosis.cli import server_options
from symbiosis.config import GatewaySettings
from symbiosis.gateway import Gateway, Limits
from tests.security.probes import connections_to, raw_request, rss_mb, status_of
from tests.support import Stack, free_port, register_company

pytestmark = pytest.mark.e2e


async def test_closed_live_streams_leave_no_upstream_connection_behind(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    """Finding 1: after about 100 closed streams every request waited 30 s for a 503."""
    company = await register_company(client, "Stream Opener AS")
    headers = {**company["headers"], "Accept": "text/event-stream"}
    notifications_port = Settings(http_port=stack.http_port).service_port("notifications")
    gateway_pid = stack.processes["gateway"].pid

    async def open_and_close() -> None:
        async with (
            httpx.AsyncClient(base_url=stack.url, timeout=10) as browser,
            browser.stream("GET", "/api/notifications/inbox/stream", headers=headers) as stream,
        ):
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("event: unread"):
                    break  # the browser goes away: another page, a closed tab

    for _ in range(6):
        await asyncio.gather(*(open_and_close() for _ in range(25)))  # 150 in all

    started = time.monotonic()
    health = await client.get("/api/listings/health", timeout=10)
    assert health.status_code == 200 and time.monotonic() - started < 2
    page = await client.get("/sign-in", timeout=10)
    assert page.status_code == 200

    async def let_go() -> bool:
        return connections_to(gateway_pid, notifications_port) <= 2

    deadline = time.monotonic() + 10
    while not await let_go():
        assert time.monotonic() < deadline, (
            f"the gateway still holds {connections_to(gateway_pid, notifications_port)} "
            "connections to the notifications service"
        )
        await asyncio.sleep(0.2)


async def test_an_announced_oversized_body_is_refused_before_it_is_read(stack: Stack) -> None:
    """Finding 7: an unauthenticated 64 MB body was read whole before the services' limit."""
    head = (
        b"POST /api/listings/companies/ HTTP/1.1\r\nHost: park\r\n"
        b"Content-Type: application/json\r\nContent-Length: 67108864\r\n\r\n"
    )
    started = time.monotonic()
    answer, _ = await raw_request(stack.http_port, head, timeout=5)  # not a byte of body
    assert status_of(answer) == 413, answer[:300]
    assert b"application/problem+json" in answer
    assert time.monotonic() - started < 2


async def test_an_unannounced_oversized_body_is_cut_off_at_the_limit(stack: Stack) -> None:
    gateway_pid = stack.processes["gateway"].pid
    before = rss_mb(gateway_pid)
    head = (
        b"POST /api/listings/companies/ HTTP/1.1\r\nHost: park\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    megabyte = b"x" * (1024 * 1024)
    chunk = f"{len(megabyte):x}\r\n".encode() + megabyte + b"\r\n"
    started = time.monotonic()
    answer, sent = await raw_request(stack.http_port, head, [chunk] * 64, timeout=10)
    # The gateway answers 413 and closes; a client still sending may see the connection
    # reset before it reads the answer (the kernel resets a socket closed with unread data).
    assert status_of(answer) in (413, None), answer[:300]
    assert sent < 40 * 1024 * 1024  # the gateway stopped reading (the kernel buffers some)
    assert time.monotonic() - started < 5
    assert rss_mb(gateway_pid) - before < 30
    # the service the cut-off body was going to is still there (it died of SIGPIPE once)
    await asyncio.sleep(1)
    assert all(process.poll() is None for process in stack.processes.values())
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        assert (await http.get("/api/listings/health")).status_code == 200


# --- Timeouts, on a gateway in this process in front of an upstream that misbehaves --------


@contextlib.asynccontextmanager
async def serving(gateway: Gateway, settings: GatewaySettings | None = None) -> AsyncIterator[int]:
    """The gateway served as `symbiosis gateway` serves it (``server_options``)."""
    port = free_port()
    options = server_options(settings or GatewaySettings(), edge=True)
    server = uvicorn.Server(
        uvicorn.Config(gateway, host="127.0.0.1", port=port, lifespan="on", **options)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def silent_upstream() -> AsyncIterator[str]:
    """Accepts connections, reads what it is sent, never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_service_that_does_not_answer_gets_a_504_in_time() -> None:
    async with silent_upstream() as upstream:
        gateway = Gateway({"listings": upstream}, limits=Limits(read_seconds=1.0))
        async with serving(gateway) as port, httpx.AsyncClient(timeout=10) as http:
            started = time.monotonic()
            answer = await http.get(f"http://127.0.0.1:{port}/api/listings/listings/")
            assert answer.status_code == 504
            assert answer.headers["content-type"] == "application/problem+json"
            assert time.monotonic() - started < 3


async def test_a_service_that_cannot_be_reached_gets_a_503_in_time() -> None:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{unused.getsockname()[1]}"
    gateway = Gateway({"listings": nobody}, limits=Limits(connect_seconds=1.0))
    async with serving(gateway) as port, httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"http://127.0.0.1:{port}/api/listings/listings/")
        assert answer.status_code == 503


async def test_a_client_that_stalls_its_body_gets_a_408() -> None:
    async with silent_upstream() as upstream:
        gateway = Gateway({"listings": upstream}, limits=Limits(body_chunk_seconds=1.0))
        async with serving(gateway) as port:
            head = (
                b"POST /api/listings/listings/ HTTP/1.1\r\nHost: park\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":'
            )
            started = time.monotonic()
            answer, _ = await raw_request(port, head, timeout=5)
            assert status_of(answer) == 408, answer[:200]
            assert time.monotonic() - started < 4


async def forwarded_upstream_sees(
    headers: dict[str, str], settings: GatewaySettings | None = None
) -> list[bytes]:
    """The header lines a service receives for a request through the gateway."""
    seen: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    upstream = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with (
            serving(Gateway({"listings": upstream}), settings) as port,
            httpx.AsyncClient(timeout=10) as http,
        ):
            await http.get(f"http://127.0.0.1:{port}/api/listings/x", headers=headers)
    finally:
        server.close()
    return [line.lower() for line in seen[0].split(b"\r\n")]


async def test_callers_cannot_say_where_they_come_from() -> None:
    """The gateway replaces X-Forwarded-For (the services throttle sign-ins and audit by it)."""
    lines = await forwarded_upstream_sees(
        {"X-Forwarded-For": "198.51.100.1", "X-Real-IP": "198.51.100.2"}
    )
    assert b"x-forwarded-for: 127.0.0.1" in lines
    assert not any(b"198.51.100" in line for line in lines)


async def test_behind_a_trusted_proxy_the_client_is_the_one_it_names() -> None:
    """Behind a load balancer or ingress (here: the test, on 127.0.0.1, in its place) the
    gateway takes the client from the proxy's X-Forwarded-For, and only from it: what the
    client itself put first in the header is not believed. The addresses are only header
    values; nothing is sent to them."""
    behind = GatewaySettings(trusted_proxies="127.0.0.0/8, 10.20.0.0/16")
    lines = await forwarded_upstream_sees(
        {"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.20.0.7"}, behind
    )
    assert b"x-forwarded-for: 203.0.113.9" in lines
    assert not any(b"198.51.100" in line for line in lines)
