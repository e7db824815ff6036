"""Webhooks go to public https addresses only (issue 15, finding 2): a company could make
the notifications service post to the services' own ports, PostgreSQL, the broker, the mail
sink, ``[::1]``, link-local and private addresses, and read what answered in the log.

The address rules are tested on literal addresses, without connecting or looking anything
up; deliveries are tested on the loopback, through the allow-list or a resolver of our own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.notifications.config import NotificationsSettings
from services.notifications.domain import Owner
from services.notifications.webhook_delivery import Schedule, deliver_periodically
from services.notifications.webhook_targets import (
    AllowList,
    TargetRefused,
    address_refusal,
    check_url,
    literal_address,
    resolve,
    system_resolver,
)
from services.notifications.webhooks import create_endpoint, delivery_id, enqueue_webhooks
from shared.db import Pool
from shared.settings import Settings
from tests.integration.test_webhooks import Receiver, proposed
from tests.support import Stack, eventually, migrated_pool, register_company

NOT_PUBLIC = [
    "127.0.0.1",
    "127.0.0.2",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.0.8",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",  # unique-local
    "fd00:ec2::254",  # a cloud's IPv6 metadata
    "fec0::1",  # site-local
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo of 127.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "192.0.2.10",  # documentation
    "2001:db8::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "151.101.1.69", "2001:4860:4860::8888", "2606:4700::1111"]


@pytest.fixture
def settings(settings: Settings) -> NotificationsSettings:
    """The test's settings as the notifications service reads them (webhooks are its own)."""
    return NotificationsSettings(**settings.model_dump())


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_inside_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0", "0.0.0.0"),  # noqa: S104
        ("[::1]", "::1"),
    ],
)
def test_every_spelling_of_an_address_is_read_as_one(spelling: str, address: str) -> None:
    assert literal_address(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://erp.example.no/hooks",  # plain http to the world
        "https://localhost/hooks",
        "https://LOCALHOST./hooks",
        "https://api.localhost/hooks",
        "https://postgres/hooks",  # a name without a dot: a container or a host inside
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://printer.local/",
        "https://127.0.0.1:8101/api/listings/",
        "https://[::1]:5432/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://user:pw@erp.example.no/hooks",
    ],
)
def test_urls_inside_the_park_are_refused_when_registered(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, AllowList())


def test_the_allow_list_lets_named_hosts_and_networks_in_over_http_too() -> None:
    allow = AllowList.parse("127.0.0.1, erp.park.lan, 10.20.0.0/16")
    assert check_url("http://127.0.0.1:9000/hook", allow)
    assert check_url("http://erp.park.lan/hook", allow)
    assert check_url("https://10.20.3.4/hook", allow)
    for refused in ("http://127.0.0.2/hook", "https://10.21.0.1/hook", "http://localhost/hook"):
        with pytest.raises(TargetRefused):
            check_url(refused, allow)
    with pytest.raises(ValueError, match="neither"):
        AllowList.parse("http://erp/")


async def test_a_name_is_checked_by_every_address_it_resolves_to() -> None:
    """Resolved by a resolver of our own: no lookup leaves the machine."""

    async def resolver(host: str, port: int) -> list[str]:
        return {
            "hooks.partner.example": ["151.101.1.69"],
            "rebound.partner.example": ["151.101.1.69", "10.0.0.7"],
            "inside.partner.example": ["192.168.0.3"],
        }.get(host, [])

    target = await resolve("https://hooks.partner.example/in", AllowList(), resolver)
    assert target.url == "https://151.101.1.69/in"
    assert target.headers == {"Host": "hooks.partner.example"}
    assert target.extensions == {"sni_hostname": "hooks.partner.example"}
    for host in ("rebound.partner.example", "inside.partner.example", "nowhere.example"):
        with pytest.raises(TargetRefused, match="does not resolve to a public address"):
            await resolve(f"https://{host}/in", AllowList(), resolver)


@pytest.mark.e2e
async def test_a_company_cannot_register_an_endpoint_inside_the_park(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    """The stack allows 127.0.0.1 (the tests' receivers) and nothing else."""
    company = await register_company(client, "Curious Prober AS")
    listings = stack.http_port + 1
    for url in (
        f"http://localhost:{listings}/api/listings/health",
        f"https://127.0.0.2:{listings}/",
        "https://[::1]:5432/",
        "https://2130706434/",  # 127.0.0.2
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://192.168.1.1/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://kafka/",
        "https://metadata.google.internal/",
    ):
        response = await client.post(
            "/api/notifications/webhooks/endpoints/",
            json={"url": url, "event_types": ["trade.proposed"]},
            headers=company["headers"],
        )
        assert response.status_code == 400, (url, response.text)
        assert response.json()["errors"][0]["field"] == "url"
    endpoints = await client.get(
        "/api/notifications/webhooks/endpoints/", headers=company["headers"]
    )
    assert endpoints.json() == []


# --- Deliveries: checked again, after resolving, every time --------------------------------


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


FAST = Schedule(
    poll_seconds=0.2,
    attempt_timeout_seconds=3.0,
    backoff_base_seconds=10.0,
    backoff_cap_seconds=10.0,
    give_up_after_seconds=60.0,
)


@contextlib.asynccontextmanager
async def worker(pool: Pool, settings: Settings, resolver: object) -> AsyncIterator[None]:
    task = asyncio.create_task(deliver_periodically(pool, settings, FAST, resolver))  # type: ignore[arg-type]
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _endpoint_for(pool: Pool, url: str) -> tuple[uuid.UUID, uuid.UUID]:
    """An endpoint written straight to the database (as if its URL had been allowed when
    registered) and a delivery for it: the endpoint's and the delivery's ids."""
    company = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        row = await create_endpoint(conn, Owner(company_id=company), url, ["trade.proposed"], None)
        envelope = proposed(company, uuid.uuid4())
        await enqueue_webhooks(conn, envelope, envelope.payload(), None)
    return row.id, delivery_id(envelope.id, row.id)


@pytest.mark.integration
async def test_a_name_that_resolves_inside_is_not_sent_to(pool: Pool, settings: Settings) -> None:
    """A receiver listens on the loopback under a name that resolves there; the worker
    refuses it, without connecting, and the log says no more than that."""
    async with Receiver() as receiver:

        async def resolver(host: str, port: int) -> list[str]:
            return ["127.0.0.1"] if host == "hooks.rebinding.example" else []

        _, delivery = await _endpoint_for(
            pool, f"https://hooks.rebinding.example:{receiver.port}/in"
        )
        async with worker(pool, settings, resolver):

            async def refused() -> str | None:
                async with pool.acquire() as conn:
                    error: str | None = await conn.fetchval(
                        "SELECT error FROM webhook_attempts WHERE delivery_id = $1", delivery
                    )
                return error

            error = await eventually(refused)
        assert error.startswith("not sent:") and "does not resolve to a public address" in error
        assert "127.0.0.1" not in error  # nothing of what the name resolves to
        assert receiver.requests == []


@pytest.mark.integration
async def test_an_allowed_name_is_sent_to_the_address_it_was_checked_at(
    pool: Pool, settings: Settings
) -> None:
    """Through the allow-list, on the loopback: the name is resolved by the worker (here by
    a resolver of our own), and the request goes to that address with the endpoint's host
    name in the Host header."""
    allowed = settings.model_copy(update={"webhook_allowed_hosts": "hooks.on-premises.example"})
    async with Receiver() as receiver:
        looked_up: list[str] = []

        async def resolver(host: str, port: int) -> list[str]:
            looked_up.append(host)
            return ["127.0.0.1"]

        url = f"http://hooks.on-premises.example:{receiver.port}/in"
        await _endpoint_for(pool, url)
        async with worker(pool, allowed, resolver):
            await eventually(lambda: _got(receiver, "/in"))
        [request] = receiver.on("/in")
        assert request.headers["host"] == f"hooks.on-premises.example:{receiver.port}"
        assert looked_up == ["hooks.on-premises.example"]


async def _got(receiver: Receiver, path: str) -> bool:
    return bool(receiver.on(path))


@pytest.mark.integration
async def test_a_redirect_is_not_followed(pool: Pool, settings: Settings) -> None:
    allowed = settings.model_copy(update={"webhook_allowed_hosts": "127.0.0.1"})
    async with Receiver() as receiver:
        receiver.script("/moved", 302)
        _, delivery = await _endpoint_for(pool, receiver.url("/moved"))
        async with worker(pool, allowed, system_resolver):

            async def logged() -> str | None:
                async with pool.acquire() as conn:
                    error: str | None = await conn.fetchval(
                        "SELECT error FROM webhook_attempts WHERE delivery_id = $1", delivery
                    )
                return error

            assert "redirects are not followed" in await eventually(logged)
        # the refused delivery may be tried again (with backoff) before the worker stops;
        # only ever to the endpoint itself
        assert {r.path for r in receiver.requests} == {"/moved"}
