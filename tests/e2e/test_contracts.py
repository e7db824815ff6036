"""From proposal to contract and deliveries, by HTTP alone, on the running services: a
counter-offer, acceptance, the reservation on both listings, two deliveries recorded and
confirmed, and the rules that refuse what must not happen."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import WEBHOOK_SECRET
from tests.e2e.test_accounts import PASSWORD, bearer, make_park_admin, sign_in, unique_email
from tests.support import (
    Stack,
    eventually,
    register_company,
    stripe_invoice_event,
    stripe_signature,
)

pytestmark = pytest.mark.e2e

API = "/api/contracts"


def concrete(kind: str, tonnes: int, price_nok: int, title: str) -> dict[str, Any]:
    # Crushed concrete (17 01 01) is traded by this module's tests alone.
    return {
        "kind": kind,
        "ewc_code": "17 01 01",
        "title": title,
        "quantity": str(tonnes),
        "unit": "t",
        "price_per_unit_ore": price_nok * 100,
    }


async def trade(
    client: httpx.AsyncClient, supplier_name: str, receiver_name: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Two companies whose offer and need the matcher proposes; their open negotiation."""
    supplier = await register_company(client, supplier_name)
    receiver = await register_company(client, receiver_name)
    offer = (
        await client.post(
            "/api/listings/listings/",
            json=concrete("offer", 30, 100, f"Crushed concrete from {supplier_name}"),
            headers=supplier["headers"],
        )
    ).json()
    await client.post(
        "/api/listings/listings/",
        json=concrete("need", 20, 300, f"Aggregate for {receiver_name}"),
        headers=receiver["headers"],
    )

    async def negotiation() -> dict[str, Any] | None:
        rows = (await client.get(f"{API}/negotiations/", headers=receiver["headers"])).json()
        ours = [r for r in rows if r["supplier_company_id"] == supplier["company"]["id"]]
        return ours[0] if ours else None

    return supplier, receiver, offer, await eventually(negotiation)


async def post(
    client: httpx.AsyncClient, path: str, who: dict[str, Any], body: Any = None
) -> httpx.Response:
    return await client.post(f"{API}{path}", json=body or {}, headers=who["headers"])


async def test_counter_agree_deliver_twice_and_complete(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    supplier, receiver, offer, negotiation = await trade(
        client, "Demolition Crusher AS", "Ready-Mix Concrete AS"
    )
    nid = negotiation["id"]
    first = negotiation["terms"]
    # the exchange puts the middle of the two prices on the table
    assert (first["proposed_by"], first["price_per_unit_ore"]) == ("exchange", 20000)
    assert float(first["quantity"]) == 20
    stranger = await register_company(client, "Nosy Neighbour AS")
    assert (
        await client.get(f"{API}/negotiations/{nid}", headers=stranger["headers"])
    ).status_code == 404
    assert (
        await post(client, f"/negotiations/{nid}/accept", stranger, {"terms_id": first["id"]})
    ).status_code == 404

    # the receiver counters: 15 t at 150 NOK/t, the supplier transports
    counter = {"quantity": "15", "unit": "t", "price_per_unit_ore": 15000, "transport": "supplier"}
    countered = await post(client, f"/negotiations/{nid}/counter", receiver, counter)
    assert countered.status_code == 200, countered.text
    second = countered.json()["terms"]
    assert (second["version"], second["proposed_by"]) == (2, "receiver")
    assert second["receiver_accepted_at"] and not second["supplier_accepted_at"]
    # nonsense is refused and changes nothing
    bad = await post(client, f"/negotiations/{nid}/counter", supplier, {**counter, "unit": "MWh"})
    assert bad.status_code == 400 and "unit" in bad.text
    bad = await post(
        client, f"/negotiations/{nid}/counter", supplier, {**counter, "quantity": "-1"}
    )
    assert bad.status_code == 400
    mine = await post(client, f"/negotiations/{nid}/accept", receiver, {"terms_id": second["id"]})
    assert mine.status_code == 409 and "already accepted" in mine.text.lower()
    stale = await post(client, f"/negotiations/{nid}/accept", supplier, {"terms_id": first["id"]})
    assert stale.status_code == 409 and "no longer on the table" in stale.text
    unchanged = (await client.get(f"{API}/negotiations/{nid}", headers=supplier["headers"])).json()
    assert unchanged["terms"]["id"] == second["id"] and unchanged["status"] == "open"

    # the supplier accepts: a contract, and both listings reserve 15 t
    agreed = await post(client, f"/negotiations/{nid}/accept", supplier, {"terms_id": second["id"]})
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "agreed"
    contract_id = agreed.json()["contract_id"]
    again = await post(client, f"/negotiations/{nid}/accept", supplier, {"terms_id": second["id"]})
    assert again.status_code == 409
    trail = (await client.get(f"{API}/negotiations/{nid}", headers=receiver["headers"])).json()
    assert [s["action"] for s in trail["steps"]] == ["proposed", "countered", "accepted", "agreed"]
    assert trail["steps"][1]["company_id"] == receiver["company"]["id"]
    assert trail["steps"][2]["company_id"] == supplier["company"]["id"]

    async def reserved() -> bool:
        listing = (
            await client.get(f"/api/listings/listings/{offer['id']}", headers=supplier["headers"])
        ).json()
        return float(listing["remaining_quantity"]) == 15

    await eventually(reserved)

    contract = (
        await client.get(f"{API}/contracts/{contract_id}", headers=receiver["headers"])
    ).json()
    assert (contract["price_per_unit_ore"], contract["transport"], contract["status"]) == (
        15000,
        "supplier",
        "active",
    )
    assert (
        await client.get(f"{API}/contracts/{contract_id}", headers=stranger["headers"])
    ).status_code == 404

    # deliveries: only the supplier records, never more than agreed, never in the future
    today = date.today().isoformat()
    path = f"/contracts/{contract_id}/deliveries"
    refused = await post(client, path, receiver, {"quantity": "10", "delivered_on": today})
    assert refused.status_code == 403
    future = (date.today() + timedelta(days=2)).isoformat()
    assert (
        await post(client, path, supplier, {"quantity": "1", "delivered_on": future})
    ).status_code == 400
    too_much = await post(client, path, supplier, {"quantity": "16", "delivered_on": today})
    assert too_much.status_code == 409 and "at most 15 t" in too_much.text
    one = await post(
        client, path, supplier, {"quantity": "10", "delivered_on": today, "weighbridge_note": "T-1"}
    )
    assert one.status_code == 201, one.text
    over = await post(client, path, supplier, {"quantity": "5.5", "delivered_on": today})
    assert over.status_code == 409  # 10 t await confirmation, so 5 t remain
    delivery = one.json()["id"]
    own = await post(client, f"/deliveries/{delivery}/confirm", supplier)
    assert own.status_code == 403 and "cannot answer its own" in own.text
    confirmed = await post(client, f"/deliveries/{delivery}/confirm", receiver)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert (await post(client, f"/deliveries/{delivery}/confirm", receiver)).status_code == 409
    two = await post(
        client, path, supplier, {"quantity": "5000", "unit": "kg", "delivered_on": today}
    )
    assert two.status_code == 201, two.text
    assert (
        await post(client, f"/deliveries/{two.json()['id']}/confirm", receiver)
    ).status_code == 200
    done = (await client.get(f"{API}/contracts/{contract_id}", headers=supplier["headers"])).json()
    assert done["status"] == "completed" and float(done["delivered"]) == 15
    # why, as a code for the reader's language beside the English
    assert done["status_reason"] == "every delivery confirmed"
    assert done["status_reason_detail"] == {"code": "contract.completed", "params": {}}
    assert done["status_reason_typed"] is None
    assert [d["status"] for d in done["deliveries"]] == ["confirmed", "confirmed"]
    cancel = await post(
        client, f"/contracts/{contract_id}/cancel", supplier, {"reason": "too late"}
    )
    assert cancel.status_code == 409

    # both deliveries are invoiced through Stripe (stripe-mock) to the receiver, with MVA
    async def issued() -> list[Any] | None:
        rows = (await client.get(f"{API}/invoices/", headers=receiver["headers"])).json()
        ours = [r for r in rows if r["contract_id"] == contract_id and r["status"] == "issued"]
        return ours if len(ours) == 2 else None

    invoices = sorted(await eventually(issued), key=lambda r: r["net_ore"])
    assert [(i["net_ore"], i["mva_ore"], i["total_ore"]) for i in invoices] == [
        (75000, 18750, 93750),
        (150000, 37500, 187500),
    ]
    assert all(i["payer_company_id"] == receiver["company"]["id"] for i in invoices)
    assert all(i["platform_fee_ore"] == i["net_ore"] * 2 // 100 for i in invoices)
    paid_one = invoices[1]
    path_one = f"{API}/invoices/{paid_one['id']}"
    assert (await client.get(path_one, headers=stranger["headers"])).status_code == 404
    assert (await client.get(path_one, headers=supplier["headers"])).status_code == 200

    # Stripe reports payment: a signed webhook; a replay or a forgery changes nothing
    event = stripe_invoice_event(
        "invoice.paid", uuid.UUID(paid_one["id"]), paid_one["stripe_invoice_id"]
    )
    hook = f"{API}/stripe/webhook"
    signature = {"Stripe-Signature": stripe_signature(event, WEBHOOK_SECRET)}
    forged = await client.post(
        hook, content=event.replace(b"invoice.paid", b"invoice.voided"), headers=signature
    )
    assert forged.status_code == 400
    for _ in range(2):  # the second is a replay
        delivered = await client.post(hook, content=event, headers=signature)
        assert delivered.status_code == 200, delivered.text
    paid = (await client.get(path_one, headers=receiver["headers"])).json()
    assert paid["status"] == "paid" and paid["paid_at"]
    other = await client.get(f"{API}/invoices/{invoices[0]['id']}", headers=receiver["headers"])
    assert other.json()["status"] == "issued"

    # the park administrator's statistics count both deliveries once, with their impact
    email = unique_email("stats")
    make_park_admin(stack, email, PASSWORD)
    admin = bearer(await sign_in(client, email))
    assert (await client.get(f"{API}/statistics/", headers=supplier["headers"])).status_code == 403
    figures = (await client.get(f"{API}/statistics/", headers=admin)).json()
    ours = [e for e in figures["exchanges"] if e["contract_id"] == contract_id]
    assert sorted(float(e["quantity"]) for e in ours) == [5, 10]
    assert sum(float(e["nok"]) for e in ours) == 15 * 150
    assert sum(float(e["supplier_gain_nok"]) for e in ours) == 15 * 50  # over its 100 NOK/t ask
    assert sum(float(e["receiver_gain_nok"]) for e in ours) == 15 * 150  # under its 300 bid
    per_tonne = 7.79306 - 3.21835 + 1.26338  # primary less closed-loop aggregates, + landfill
    assert sum(float(e["co2e_avoided_kg"]) for e in ours) == pytest.approx(15 * per_tonne, abs=0.01)
    assert all("mat.aggregates.primary" in e["factors"] for e in ours)
    flow = [
        f
        for f in figures["flows"]
        if (f["source"], f["target"]) == (supplier["company"]["id"], receiver["company"]["id"])
    ]
    assert [(f["resource"], float(f["quantity"]), f["deliveries"]) for f in flow] == [
        ("170101", 15, 2)
    ]
    assert float(figures["headline"]["tonnes_diverted"]) >= 15
    month = date.today().strftime("%Y-%m")
    assert any(m["month"] == month and float(m["tonnes"]) >= 15 for m in figures["months"])
    csv_text = (await client.get(f"{API}/statistics/csv/exchanges", headers=admin)).text
    assert csv_text.splitlines()[0].startswith("delivery_id,contract_id,delivered_on")
    assert sum(contract_id in line for line in csv_text.splitlines()) == 2
    before = (
        await client.get(f"{API}/statistics/", params={"until": "2000-01-01"}, headers=admin)
    ).json()
    assert before["headline"]["deliveries"] == 0 and before["exchanges"] == []
    backwards = await client.get(
        f"{API}/statistics/", params={"start": "2030-01-01", "until": "2020-01-01"}, headers=admin
    )
    assert backwards.status_code == 400
    assert (await client.get(f"{API}/statistics/csv/nothing", headers=admin)).status_code == 404


async def test_a_declined_negotiation_and_a_cancelled_contract_give_everything_back(
    client: httpx.AsyncClient,
) -> None:
    supplier, receiver, offer, negotiation = await trade(
        client, "Second Crusher AS", "Precast Panels AS"
    )
    nid, terms = negotiation["id"], negotiation["terms"]
    assert (
        await post(client, f"/negotiations/{nid}/accept", supplier, {"terms_id": terms["id"]})
    ).status_code == 200
    agreed = await post(client, f"/negotiations/{nid}/accept", receiver, {"terms_id": terms["id"]})
    assert agreed.status_code == 200 and agreed.json()["status"] == "agreed"
    contract_id = agreed.json()["contract_id"]

    async def remaining(expected: float) -> bool:
        listing = (
            await client.get(f"/api/listings/listings/{offer['id']}", headers=supplier["headers"])
        ).json()
        return float(listing["remaining_quantity"]) == expected

    await eventually(lambda: remaining(10))  # 20 t of 30 reserved
    today = date.today().isoformat()
    delivered = await post(
        client,
        f"/contracts/{contract_id}/deliveries",
        supplier,
        {"quantity": "4", "delivered_on": today},
    )
    assert (
        await post(client, f"/deliveries/{delivered.json()['id']}/confirm", receiver)
    ).status_code == 200
    short = await post(client, f"/contracts/{contract_id}/cancel", receiver, {"reason": "x"})
    assert short.status_code == 400  # a reason of a few words is required
    cancelled = await post(
        client, f"/contracts/{contract_id}/cancel", receiver, {"reason": "Plant shut for rebuild"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # the exchange's part of the reason as a code, the receiver's words apart, as written
    assert cancelled.json()["status_reason"] == "Plant shut for rebuild"
    assert cancelled.json()["status_reason_detail"] == {
        "code": "contract.cancelled_by_party",
        "params": {},
    }
    assert cancelled.json()["status_reason_typed"] == "Plant shut for rebuild"
    await eventually(lambda: remaining(26))  # the 16 t not delivered are given back
    late = await post(
        client,
        f"/contracts/{contract_id}/deliveries",
        supplier,
        {"quantity": "1", "delivered_on": today},
    )
    assert late.status_code == 409

    # a fresh proposal of the same pair's kind is declined: over for both
    buyer = await register_company(client, "Third Buyer AS")
    await client.post(
        "/api/listings/listings/",
        json=concrete("need", 5, 250, "Fill for Third Buyer"),
        headers=buyer["headers"],
    )

    async def theirs() -> dict[str, Any] | None:
        rows = (await client.get(f"{API}/negotiations/", headers=buyer["headers"])).json()
        return rows[0] if rows else None

    other = await eventually(theirs)
    declined = await post(
        client, f"/negotiations/{other['id']}/decline", buyer, {"reason": "Found another"}
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    late_accept = await post(
        client, f"/negotiations/{other['id']}/accept", buyer, {"terms_id": other["terms"]["id"]}
    )
    assert late_accept.status_code == 409 and "declined" in late_accept.text


async def test_a_gate_fee_is_invoiced_to_the_supplier(client: httpx.AsyncClient) -> None:
    # treated wastewater, which this test alone trades: the supplier pays to be rid of it
    body = {"resource_class": "treated_wastewater", "title": "Treated process water", "unit": "m3"}
    supplier = await register_company(client, "Wastewater Sender AS")
    receiver = await register_company(client, "Wastewater Taker AS")
    await client.post(
        "/api/listings/listings/",
        json={**body, "kind": "offer", "quantity": "100", "price_per_unit_ore": -2000},
        headers=supplier["headers"],
    )
    await client.post(
        "/api/listings/listings/",
        json={**body, "kind": "need", "quantity": "100", "price_per_unit_ore": -1000},
        headers=receiver["headers"],
    )

    async def negotiation() -> dict[str, Any] | None:
        rows = (await client.get(f"{API}/negotiations/", headers=receiver["headers"])).json()
        return rows[0] if rows else None

    found = await eventually(negotiation)
    terms = found["terms"]
    assert terms["price_per_unit_ore"] == -1500  # a gate fee of 15 NOK/m3, met in the middle
    for side in (supplier, receiver):
        answer = await post(
            client, f"/negotiations/{found['id']}/accept", side, {"terms_id": terms["id"]}
        )
        assert answer.status_code == 200, answer.text
    contract_id = answer.json()["contract_id"]
    today = date.today().isoformat()
    delivered = await post(
        client,
        f"/contracts/{contract_id}/deliveries",
        supplier,
        {"quantity": "40", "delivered_on": today},
    )
    assert (
        await post(client, f"/deliveries/{delivered.json()['id']}/confirm", receiver)
    ).status_code == 200

    async def invoiced() -> list[Any] | None:
        rows = (await client.get(f"{API}/invoices/", headers=supplier["headers"])).json()
        return [r for r in rows if r["contract_id"] == contract_id] or None

    [invoice] = await eventually(invoiced)
    assert (invoice["payer_company_id"], invoice["payee_company_id"]) == (
        supplier["company"]["id"],
        receiver["company"]["id"],
    )
    assert (invoice["unit_price_ore"], invoice["net_ore"], invoice["total_ore"]) == (
        1500,
        60000,
        75000,
    )
    assert invoice["description"].startswith("Gate fee: ")


async def test_an_expired_negotiation_cannot_be_accepted(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    supplier, receiver, _, negotiation = await trade(client, "Late Crusher AS", "Late Buyer AS")
    conn = await asyncpg.connect(stack.env["SYMBIOSIS_DATABASE_URL"])
    try:  # as if 14 days had passed without an answer
        await conn.execute(
            "UPDATE contracts.negotiations SET expires_at = now() - interval '1 minute' "
            "WHERE id = $1",
            uuid.UUID(negotiation["id"]),
        )
    finally:
        await conn.close()
    late = await post(
        client,
        f"/negotiations/{negotiation['id']}/accept",
        supplier,
        {"terms_id": negotiation["terms"]["id"]},
    )
    assert late.status_code == 409 and "expired" in late.text
    after = (
        await client.get(f"{API}/negotiations/{negotiation['id']}", headers=receiver["headers"])
    ).json()
    assert after["terms"]["supplier_accepted_at"] is None
