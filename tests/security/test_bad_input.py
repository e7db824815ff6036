"""Bad input gets a 400 problem naming the field and changes nothing (issue 15, finding 5):
a NUL byte in any text field or query, JSON nested 1,000 levels, quantities that round to
zero or overflow, null for a listing's required fields, an offset beyond int64 and a NUL
byte in a signed Stripe webhook all answered 500."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.security.probes import bearer, park_admin_token
from tests.support import Stack, eventually, org_number, register_company, stripe_signature

pytestmark = pytest.mark.e2e

LISTINGS = "/api/listings/listings/"


def refused(response: httpx.Response, field: str) -> None:
    """A 400 problem that names ``field``."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in {e["field"] for e in problem.get("errors", [])}, problem


def offer(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "offer",
        "ewc_code": "10 07 01",
        "title": "Slag from the melt shop",
        "quantity": "12",
        "unit": "t",
        **fields,
    }


async def test_a_nul_byte_anywhere_is_refused_by_name(client: httpx.AsyncClient) -> None:
    number = org_number()
    registration = await client.post(
        "/api/listings/companies/",
        json={
            "name": "Nul\x00 AS",
            "org_number": number,
            "admin": {"name": "A", "email": "nul@example.no", "password": "a long passphrase"},
        },
    )
    refused(registration, "name")
    # nothing was registered: the number is still free
    assert (
        await client.post("/api/listings/companies/", json={"name": "Nul AS", "org_number": number})
    ).status_code == 201
    company = await register_company(client, "Nul Bytes AS")
    refused(
        await client.post(LISTINGS, json=offer(title="Slag\x00"), headers=company["headers"]),
        "title",
    )
    refused(
        await client.post(
            LISTINGS,
            json=offer(quality=[{"property": "iron", "unit": "%\x00", "max": 4}]),
            headers=company["headers"],
        ),
        "quality[0].unit",
    )
    refused(await client.get(LISTINGS, params={"q": "a\x00b"}, headers=company["headers"]), "q")
    refused(
        await client.get(
            "/api/notifications/inbox/", params={"cursor": "\x00"}, headers=company["headers"]
        ),
        "cursor",
    )
    mine = await client.get(LISTINGS, params={"mine": "true"}, headers=company["headers"])
    assert mine.json()["items"] == []


async def test_json_nested_a_thousand_levels_is_refused(client: httpx.AsyncClient) -> None:
    company = await register_company(client, "Deep Nester AS")
    for body in ("[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000):
        response = await client.post(
            LISTINGS,
            content=body,
            headers={**company["headers"], "Content-Type": "application/json"},
        )
        refused(response, "body")
    anonymous = await client.post(
        "/api/listings/companies/",
        content="[" * 1000 + "]" * 1000,
        headers={"Content-Type": "application/json"},
    )
    refused(anonymous, "body")


@pytest.mark.parametrize("quantity", ["1e308", "5e-324", "0.0001", "1e-30", "NaN", "Infinity"])
async def test_quantities_that_vanish_or_overflow_are_refused(
    client: httpx.AsyncClient, quantity: str
) -> None:
    company = await register_company(client, "Tiny Quantities AS")
    refused(
        await client.post(LISTINGS, json=offer(quantity=quantity), headers=company["headers"]),
        "quantity",
    )
    search = await client.get(
        LISTINGS,
        params={"min_quantity": quantity, "unit": "t"},
        headers=company["headers"],
    )
    assert search.status_code in (200, 400), search.text
    if quantity in ("1e308", "NaN", "Infinity"):
        refused(search, "min_quantity")
    draft = await client.post(LISTINGS, json=offer(publish=False), headers=company["headers"])
    patched = await client.patch(
        f"{LISTINGS}{draft.json()['id']}", json={"quantity": quantity}, headers=company["headers"]
    )
    refused(patched, "quantity")


async def trade(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A receiver and its open negotiation with a supplier (dross, 10 07 02: this module's)."""
    supplier = await register_company(client, "Dross Supplier AS")
    receiver = await register_company(client, "Dross Receiver AS")
    for company, kind in ((supplier, "offer"), (receiver, "need")):
        listing = offer(kind=kind, ewc_code="10 07 02", title="Dross from the furnaces")
        response = await client.post(LISTINGS, json=listing, headers=company["headers"])
        assert response.status_code == 201, response.text

    async def negotiation() -> dict[str, Any] | None:
        rows = (
            await client.get("/api/contracts/negotiations/", headers=receiver["headers"])
        ).json()
        return next(
            (r for r in rows if r["supplier_company_id"] == supplier["company"]["id"]), None
        )

    return receiver, await eventually(negotiation)


async def test_a_counter_offer_of_a_vanishing_or_huge_quantity_is_refused(
    client: httpx.AsyncClient,
) -> None:
    receiver, negotiation = await trade(client)
    path = f"/api/contracts/negotiations/{negotiation['id']}/counter"
    for quantity in ("5e-324", "0.0004", "1e308"):
        response = await client.post(
            path,
            json={"quantity": quantity, "unit": "t", "price_per_unit_ore": 100},
            headers=receiver["headers"],
        )
        refused(response, "quantity")
    unchanged = await client.get(
        f"/api/contracts/negotiations/{negotiation['id']}", headers=receiver["headers"]
    )
    assert unchanged.json()["terms"]["id"] == negotiation["terms"]["id"]


@pytest.mark.parametrize("field", ["internal_note", "description", "available_from", "title"])
async def test_null_for_a_listings_required_field_is_refused(
    client: httpx.AsyncClient, field: str
) -> None:
    company = await register_company(client, "Null Patcher AS")
    created = await client.post(LISTINGS, json=offer(publish=False), headers=company["headers"])
    listing = created.json()
    patched = await client.patch(
        f"{LISTINGS}{listing['id']}", json={field: None}, headers=company["headers"]
    )
    refused(patched, field)
    after = await client.get(f"{LISTINGS}{listing['id']}", headers=company["headers"])
    assert after.json()["updated_at"] == listing["updated_at"]


async def test_an_offset_or_cursor_beyond_any_integer_is_refused(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    park = bearer(park_admin_token(stack))
    for offset in (str(2**63), str(10**30)):
        response = await client.get(
            "/api/listings/companies/", params={"offset": offset}, headers=park
        )
        refused(response, "offset")
    response = await client.get(
        "/api/listings/audit-log/", params={"before": str(2**63)}, headers=park
    )
    refused(response, "before")


async def test_a_signed_stripe_event_with_a_nul_byte_is_refused_and_recorded_nowhere(
    client: httpx.AsyncClient,
) -> None:
    event = {
        "id": "evt_nul_byte_probe",
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {"object": {"id": "in_nul\x00", "object": "invoice", "metadata": {}}},
    }
    body = json.dumps(event).encode()
    response = await client.post(
        "/api/contracts/stripe/webhook",
        content=body,
        headers={
            "Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )
    refused(response, "data.object.id")
    # the event id was not taken: the same id with clean data is applied later
    clean = json.dumps({**event, "data": {"object": {"id": "in_clean", "metadata": {}}}}).encode()
    again = await client.post(
        "/api/contracts/stripe/webhook",
        content=clean,
        headers={"Stripe-Signature": stripe_signature(clean, WEBHOOK_SECRET)},
    )
    assert again.status_code == 200 and again.json()["outcome"] != "replayed", again.text


async def test_a_stripe_signature_dated_ahead_is_refused(client: httpx.AsyncClient) -> None:
    """Finding 8: signatures dated a day ahead were accepted (and stayed replayable)."""
    body = json.dumps(
        {"id": "evt_from_the_future", "object": "event", "type": "invoice.paid", "data": {}}
    ).encode()
    ahead = int(time.time()) + 24 * 3600
    response = await client.post(
        "/api/contracts/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET, at=ahead)},
    )
    assert response.status_code == 400, response.text
    assert "future" in response.json()["detail"]
