"""Webhooks through the gateway to real HTTP receivers: a company's endpoint gets the
events that concern it, signed, retried, paused and resumed, with a rotated secret; a
partner's gets public listing events only; a slow endpoint holds up nobody; and after a
SIGKILL mid-request the delivery arrives again with the same ids, and the log shows it."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.notifications.webhook_delivery import INTERRUPTED, verify
from tests.conftest import create_database
from tests.e2e.test_accounts import (
    PASSWORD,
    bearer,
    make_park_admin,
    register_with_admin,
    sign_in,
    unique_email,
)
from tests.integration.test_webhooks import HOLD, Received, Receiver
from tests.support import Infra, Stack, eventually, register_company, running_stack

pytestmark = pytest.mark.e2e

HOOKS = "/api/notifications/webhooks/endpoints/"


def listing(kind: str, code: str) -> dict[str, Any]:
    return {"kind": kind, "ewc_code": code, "title": "Waste", "quantity": "10", "unit": "t"}


async def trade(
    client: httpx.AsyncClient, supplier: dict[str, Any], receiver: dict[str, Any], code: str
) -> str:
    """An offer and a need of ``code`` (each test its own): the matcher proposes a trade,
    and contracts opens its negotiation; its id."""
    for company, kind in ((supplier, "offer"), (receiver, "need")):
        response = await client.post(
            "/api/listings/listings/", json=listing(kind, code), headers=company["headers"]
        )
        assert response.status_code == 201, response.text

    async def negotiation() -> str | None:
        rows = (
            await client.get("/api/contracts/negotiations/", headers=receiver["headers"])
        ).json()
        return str(rows[0]["id"]) if rows else None

    found: str = await eventually(negotiation)
    return found


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, *event_types: str
) -> dict[str, Any]:
    response = await client.post(
        HOOKS, json={"url": url, "event_types": list(event_types)}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def log_of(
    client: httpx.AsyncClient, headers: dict[str, str], endpoint_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{HOOKS}{endpoint_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def envelope_of(request: Received) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.body)
    return body


def check_signed(request: Received, *secrets: str) -> None:
    assert request.headers["content-type"] == "application/cloudevents+json"
    event = envelope_of(request)
    assert request.headers["viken-event-id"] == event["id"]
    assert request.headers["viken-delivery-id"]
    for secret in secrets:
        verify(request.headers["viken-signature"], request.body, secret)


async def test_a_company_endpoint_gets_its_events_signed_retried_paused_and_rotated(
    client: httpx.AsyncClient,
) -> None:
    supplier = await register_company(client, "Plastfolie Produksjon AS")
    buyer = await register_company(client, "Plast Gjenvinning AS")
    async with Receiver() as receiver:
        url = receiver.url("/supplier")
        # bad input is refused with the field at fault, and nothing is made
        for body, field, words in (
            ({"url": "http://erp.example.no/hook"}, "url", "https://"),
            ({"url": "ftp://erp.example.no/hook"}, "url", "https://"),
            ({"url": "https://user:pw@erp.example.no/hook"}, "url", "user name"),
            ({"event_types": ["trade.proposed", "no.such"]}, "event_types", "unknown"),
            ({"event_types": ["listing.published"]}, "event_types", "may not receive"),
            ({"event_types": []}, "event_types", ""),
        ):
            bad = await client.post(
                HOOKS,
                json={"url": url, "event_types": ["trade.proposed"], **body},
                headers=supplier["headers"],
            )
            assert bad.status_code == 400, (body, bad.text)
            assert bad.headers["content-type"].startswith("application/problem+json")
            assert bad.json()["errors"][0]["field"] == field, bad.json()
            assert words in bad.json()["errors"][0]["message"]
        assert (await client.get(HOOKS, headers=supplier["headers"])).json() == []

        created = await register(
            client,
            supplier["headers"],
            url,
            "trade.proposed",
            "negotiation.countered",
            "negotiation.declined",
        )
        secret = created["secret"]
        assert secret.startswith("whsec_") and len(secret) == 38
        assert created["status"] == "active"
        assert created["company_id"] == supplier["company"]["id"]
        hook = f"{HOOKS}{created['id']}"
        listed = (await client.get(HOOKS, headers=supplier["headers"])).json()
        assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
        # another company neither sees nor touches it
        for method, path in (
            ("GET", hook),
            ("PATCH", hook),
            ("POST", f"{hook}/pause"),
            ("POST", f"{hook}/rotate-secret"),
            ("GET", f"{hook}/deliveries"),
            ("DELETE", hook),
        ):
            response = await client.request(
                method,
                path,
                headers=buyer["headers"],
                json={"description": "mine now"} if method == "PATCH" else None,
            )
            assert response.status_code == 404, (method, path, response.text)

        # the first attempt gets a 500; the retry (about a second later) a 200
        receiver.script("/supplier", 500)
        negotiation = await trade(client, supplier, buyer, "070213")
        await eventually(lambda: _statuses(client, supplier, created["id"], ["delivered"]))
        first, retry = receiver.on("/supplier")
        for request in (first, retry):
            check_signed(request, secret)
        assert first.body == retry.body
        assert first.headers["viken-delivery-id"] == retry.headers["viken-delivery-id"]
        event = envelope_of(first)
        assert event["type"] == "trade.proposed" and event["specversion"] == "1.0"
        assert event["data"]["supplier_company_id"] == supplier["company"]["id"]
        [delivered] = await log_of(client, supplier["headers"], created["id"])
        assert delivered["event_id"] == event["id"]
        assert delivered["id"] == first.headers["viken-delivery-id"]
        assert [(a["number"], a["status_code"]) for a in delivered["attempts"]] == [
            (2, 200),
            (1, 500),
        ]
        assert delivered["attempts"][1]["error"] == "HTTP 500"

        # paused: the counter-offer's delivery waits, then goes once resumed
        paused = await client.post(f"{hook}/pause", headers=supplier["headers"])
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        counter = {"quantity": "8", "unit": "t", "price_per_unit_ore": 15050}
        answered = await client.post(
            f"/api/contracts/negotiations/{negotiation}/counter",
            json=counter,
            headers=buyer["headers"],
        )
        assert answered.status_code == 200, answered.text
        await eventually(
            lambda: _statuses(client, supplier, created["id"], ["pending", "delivered"])
        )
        await asyncio.sleep(2)
        assert len(receiver.on("/supplier")) == 2  # nothing sent while paused
        resumed = await client.post(f"{hook}/resume", headers=supplier["headers"])
        assert resumed.json()["status"] == "active"
        await eventually(
            lambda: _statuses(client, supplier, created["id"], ["delivered", "delivered"])
        )
        assert envelope_of(receiver.on("/supplier")[2])["type"] == "negotiation.countered"

        # a rotated secret: both signatures for a day
        rotated = await client.post(f"{hook}/rotate-secret", headers=supplier["headers"])
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret != secret and rotated.json()["previous_secret_valid_until"]
        assert "secret" not in (await client.get(hook, headers=supplier["headers"])).json()
        declined = await client.post(
            f"/api/contracts/negotiations/{negotiation}/decline",
            json={"reason": "too far apart"},
            headers=buyer["headers"],
        )
        assert declined.status_code == 200, declined.text
        await eventually(lambda: _received(receiver, "/supplier", 4))
        last = receiver.on("/supplier")[3]
        assert envelope_of(last)["type"] == "negotiation.declined"
        assert last.headers["viken-signature"].count("v1=") == 2
        check_signed(last, new_secret, secret)

        # the log, page by page, newest first
        page = await client.get(f"{hook}/deliveries?limit=2", headers=supplier["headers"])
        following = await client.get(
            f"{hook}/deliveries?limit=2&cursor={page.headers['x-next-cursor']}",
            headers=supplier["headers"],
        )
        assert 'rel="next"' in page.headers["link"] and "x-next-cursor" not in following.headers
        assert [d["event_type"] for d in page.json() + following.json()] == [
            "negotiation.declined",
            "negotiation.countered",
            "trade.proposed",
        ]

        # changes are checked like a new endpoint
        for change, field in (
            ({"event_types": ["invoice.paid", "listing.updated"]}, "event_types"),
            ({"url": "http://erp.example.no/hook"}, "url"),
        ):
            refused = await client.patch(hook, json=change, headers=supplier["headers"])
            assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == field
        changed = await client.patch(
            hook,
            json={"description": "ERP", "event_types": ["invoice.paid"]},
            headers=supplier["headers"],
        )
        assert changed.status_code == 200
        assert changed.json()["event_types"] == ["invoice.paid"]
        assert changed.json()["description"] == "ERP" and changed.json()["url"] == url

        assert (await client.delete(hook, headers=supplier["headers"])).status_code == 204
        assert (await client.get(hook, headers=supplier["headers"])).status_code == 404


async def _statuses(
    client: httpx.AsyncClient, company: dict[str, Any], endpoint_id: str, expected: list[str]
) -> bool:
    rows = await log_of(client, company["headers"], endpoint_id)
    return [d["status"] for d in rows] == expected


async def _received(receiver: Receiver, path: str, count: int) -> bool:
    return len(receiver.on(path)) >= count


async def test_a_partner_endpoint_gets_public_listing_events_only(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    email = unique_email("park")
    await asyncio.to_thread(make_park_admin, stack, email, PASSWORD)
    park = bearer(await sign_in(client, email))
    key = await client.post("/api/listings/partner-keys/", headers=park, json={"label": "TMS"})
    assert key.status_code == 201
    partner = bearer(key.json()["api_key"])
    company = await register_company(client, "Tre og Flis AS")
    async with Receiver() as receiver:
        url = receiver.url("/partner")
        refused = await client.post(
            HOOKS,
            json={"url": url, "event_types": ["listing.published", "trade.proposed"]},
            headers=partner,
        )
        assert refused.status_code == 400
        assert "may not receive trade.proposed" in refused.json()["errors"][0]["message"]
        # a park administrator is neither a company nor a partner
        assert (
            await client.post(
                HOOKS, json={"url": url, "event_types": ["listing.published"]}, headers=park
            )
        ).status_code == 403
        created = await register(client, partner, url, "listing.published", "listing.withdrawn")
        assert created["company_id"] is None
        company_hook = await register(client, company["headers"], url, "trade.proposed")
        for who, other in ((partner, company_hook["id"]), (company["headers"], created["id"])):
            assert (await client.get(f"{HOOKS}{other}", headers=who)).status_code == 404
        assert [e["id"] for e in (await client.get(HOOKS, headers=partner)).json()] == [
            created["id"]
        ]

        # priced, by a company that does not share its terms with partners (the default)
        posted = await client.post(
            "/api/listings/listings/",
            json={**listing("offer", "191204"), "price_per_unit_ore": 45000},
            headers=company["headers"],
        )
        assert posted.status_code == 201, posted.text
        listing_id = posted.json()["id"]
        withdrawn = await client.post(
            f"/api/listings/listings/{listing_id}/withdraw", headers=company["headers"]
        )
        assert withdrawn.status_code == 200, withdrawn.text

        def about_it() -> list[Received]:
            return [
                r
                for r in receiver.on("/partner")
                if envelope_of(r)["data"].get("listing_id") == listing_id
            ]

        async def both() -> bool:
            return len(about_it()) >= 2

        await eventually(both)
        assert sorted(envelope_of(r)["type"] for r in about_it()) == [
            "listing.published",
            "listing.withdrawn",
        ]
        for request in receiver.on("/partner"):
            check_signed(request, created["secret"])
            assert envelope_of(request)["type"] in ("listing.published", "listing.withdrawn")
        # A partner's endpoint gets what partners get on the partner stream: no price the
        # company did not share.
        for request in about_it():
            assert envelope_of(request)["data"].get("price_per_unit_ore") is None, request.body
        logged = await log_of(client, partner, created["id"])
        assert {d["event_type"] for d in logged} <= {"listing.published", "listing.withdrawn"}
        for hook, who in ((created, partner), (company_hook, company["headers"])):
            assert (await client.delete(f"{HOOKS}{hook['id']}", headers=who)).status_code == 204


async def test_a_companys_admins_manage_its_endpoints_and_members_may_not(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_admin(client)
    admin = bearer(await sign_in(client, registered["email"]))
    email = unique_email("member")
    invited = await client.post(
        "/api/listings/people/",
        headers=admin,
        json={"email": email, "name": "Kari", "role": "member"},
    )
    token = invited.json()["invitation_token"]
    accepted = await client.post(
        "/api/listings/people/accept-invitation", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code == 200
    member = bearer(await sign_in(client, email))
    body = {"url": "https://erp.example.no/hooks", "event_types": ["invoice.paid"]}
    made = await client.post(HOOKS, json=body, headers=admin)  # a signed-in administrator
    assert made.status_code == 201, made.text
    assert made.json()["company_id"] == registered["company"]["id"]
    refused = await client.post(HOOKS, json=body, headers=member)
    assert refused.status_code == 403 and "company:admin" in refused.json()["detail"]
    assert (await client.get(HOOKS, headers=member)).status_code == 403
    assert (await client.get(HOOKS, headers=admin)).json()[0]["id"] == made.json()["id"]
    gone = await client.delete(f"{HOOKS}{made.json()['id']}", headers=admin)
    assert gone.status_code == 204


async def test_a_slow_endpoint_holds_up_no_other(client: httpx.AsyncClient) -> None:
    supplier = await register_company(client, "Glassverk AS")
    buyer = await register_company(client, "Glassull AS")
    async with Receiver() as receiver:
        receiver.script("/slow", HOLD)
        slow = await register(client, buyer["headers"], receiver.url("/slow"), "trade.proposed")
        fast = await register(
            client, supplier["headers"], receiver.url("/fast"), "negotiation.countered"
        )
        try:
            negotiation = await trade(client, supplier, buyer, "101112")
            await eventually(lambda: _received(receiver, "/slow", 1))  # and it never answers
            countered = await client.post(
                f"/api/contracts/negotiations/{negotiation}/counter",
                json={"quantity": "5", "unit": "t", "price_per_unit_ore": 20000},
                headers=buyer["headers"],
            )
            assert countered.status_code == 200
            asked = time.time()
            await eventually(lambda: _received(receiver, "/fast", 1), timeout=5)
            assert receiver.on("/fast")[0].at - asked < 5
            assert envelope_of(receiver.on("/fast")[0])["type"] == "negotiation.countered"
            [held] = await log_of(client, buyer["headers"], slow["id"])
            assert held["status"] == "pending"
            assert held["attempts"][0]["finished_at"] is None  # still out
            inbox = (
                await client.get("/api/notifications/inbox/", headers=supplier["headers"])
            ).json()
            assert "negotiation.countered" in {n["event_type"] for n in inbox}
        finally:
            receiver.release()
            # deleted while the slow request ends: no deadlock with the worker recording it
            for hook, company in ((slow, buyer), (fast, supplier)):
                gone = await client.delete(f"{HOOKS}{hook['id']}", headers=company["headers"])
                assert gone.status_code == 204, gone.text


@pytest.fixture
async def kill_database(infra: Infra) -> str:
    return await create_database(infra)


@pytest.fixture
def kill_stack(
    infra: Infra, kill_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(infra, kill_database, tmp_path_factory.mktemp("webhook-kill")) as stack:
        yield stack


async def test_a_sigkill_mid_request_sends_the_same_delivery_again(kill_stack: Stack) -> None:
    """What a receiver sees: the delivery once or twice, with the same event and delivery
    ids (and a newer signature); the log shows the interrupted attempt and the one after."""
    stack = kill_stack
    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=15) as client,
        Receiver() as receiver,
    ):
        supplier = await register_company(client, "Kill Supplier AS")
        buyer = await register_company(client, "Kill Buyer AS")
        receiver.script("/held", HOLD)
        hook = await register(client, supplier["headers"], receiver.url("/held"), "trade.proposed")
        await trade(client, supplier, buyer, "070213")
        await eventually(lambda: _received(receiver, "/held", 1))

        await asyncio.to_thread(stack.stop, "notifications", signal.SIGKILL)
        stack.start("notifications")
        await asyncio.to_thread(stack.wait_healthy, ["notifications"])

        await eventually(lambda: _statuses(client, supplier, hook["id"], ["delivered"]))
        await asyncio.sleep(2)  # nothing more comes
        requests = receiver.on("/held")
        # the first request reached the receiver (which held it) before the kill, so it
        # sees the delivery twice; a kill before the request got out would make it once
        assert len(requests) == 2
        assert len({r.headers["viken-event-id"] for r in requests}) == 1
        assert len({r.headers["viken-delivery-id"] for r in requests}) == 1
        assert len({r.body for r in requests}) == 1
        stamps = [verify(r.headers["viken-signature"], r.body, hook["secret"]) for r in requests]
        assert stamps == sorted(stamps)
        [delivered] = await log_of(client, supplier["headers"], hook["id"])
        assert delivered["id"] == requests[0].headers["viken-delivery-id"]
        assert delivered["event_id"] == requests[0].headers["viken-event-id"]
        attempts = delivered["attempts"]
        assert attempts[0]["status_code"] == 200
        assert [(a["number"], a["error"]) for a in attempts] == [(2, None), (1, INTERRUPTED)]
