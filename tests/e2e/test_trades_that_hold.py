"""No agreement on more than there is, on the running services: the issue's over-commit
scenario (a second proposal for a whole offer is cut to what a first contract left, told to
both sides, and agreed without any cancelled contract) and two acceptances at the same
moment on one listing (one contract, one clear refusal)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support import eventually, register_company

pytestmark = pytest.mark.e2e

API = "/api/contracts"
INBOX = "/api/notifications/inbox/"


def listing(kind: str, code: str, tonnes: int, price_nok: int, title: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "ewc_code": code,
        "title": title,
        "quantity": str(tonnes),
        "unit": "t",
        "price_per_unit_ore": price_nok * 100,
    }


async def post(
    client: httpx.AsyncClient, path: str, who: dict[str, Any], body: Any = None
) -> httpx.Response:
    return await client.post(f"{API}{path}", json=body or {}, headers=who["headers"])


async def negotiation_of(
    client: httpx.AsyncClient, receiver: dict[str, Any], supplier: dict[str, Any]
) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        rows = (await client.get(f"{API}/negotiations/", headers=receiver["headers"])).json()
        ours = [r for r in rows if r["supplier_company_id"] == supplier["company"]["id"]]
        return ours[0] if ours else None

    result: dict[str, Any] = await eventually(found)
    return result


async def accept_both(
    client: httpx.AsyncClient, nid: str, terms_id: str, *sides: dict[str, Any]
) -> httpx.Response:
    answer = None
    for side in sides:
        answer = await post(client, f"/negotiations/{nid}/accept", side, {"terms_id": terms_id})
        assert answer.status_code == 200, answer.text
    assert answer is not None
    return answer


async def test_a_second_proposal_is_cut_to_what_the_first_contract_left(
    client: httpx.AsyncClient,
) -> None:
    # Waste ceramics (10 12 08), traded by this test alone: the sawmill scenario.
    code = "10 12 08"
    mill = await register_company(client, "Overcommit Teglverk AS")
    plant = await register_company(client, "Overcommit Betong AS")
    builder = await register_company(client, "Overcommit Bygg AS", language="en")
    offer = (
        await client.post(
            "/api/listings/listings/",
            json=listing("offer", code, 520, 100, "Crushed bricks"),
            headers=mill["headers"],
        )
    ).json()
    await client.post(
        "/api/listings/listings/",
        json=listing("need", code, 400, 200, "Bricks for aggregate"),
        headers=plant["headers"],
    )
    await client.post(
        "/api/listings/listings/",
        json=listing("need", code, 600, 200, "Bricks for fill"),
        headers=builder["headers"],
    )
    first = await negotiation_of(client, plant, mill)
    second = await negotiation_of(client, builder, mill)
    assert float(first["terms"]["quantity"]) == 400 and float(second["terms"]["quantity"]) == 520

    # the first contract reserves 400 of the 520 t
    await accept_both(client, first["id"], first["terms"]["id"], mill, plant)

    # the second negotiation is cut to 120 t at once: new terms from the exchange, nobody's yet
    cut = (
        await client.get(f"{API}/negotiations/{second['id']}", headers=builder["headers"])
    ).json()
    assert cut["status"] == "open"
    terms = cut["terms"]
    assert (float(terms["quantity"]), terms["proposed_by"], terms["version"]) == (
        120,
        "exchange",
        2,
    )
    assert terms["supplier_accepted_at"] is None and terms["receiver_accepted_at"] is None
    assert terms["price_per_unit_ore"] == second["terms"]["price_per_unit_ore"]
    assert cut["steps"][-1]["action"] == "reduced" and "520 t to 120 t" in cut["steps"][-1]["note"]
    proposal = (
        await client.get(f"{API}/proposals/{second['id']}", headers=builder["headers"])
    ).json()
    assert float(proposal["quantity"]) == 120

    # the old terms for 520 t can no longer be accepted, nor can more than remains be countered
    stale = await post(
        client, f"/negotiations/{second['id']}/accept", mill, {"terms_id": second["terms"]["id"]}
    )
    assert stale.status_code == 409 and "cut them to 120 t" in stale.json()["detail"]
    greedy = await post(
        client,
        f"/negotiations/{second['id']}/counter",
        builder,
        {"quantity": "200", "unit": "t", "price_per_unit_ore": 15000},
    )
    assert greedy.status_code == 409, greedy.text
    assert greedy.json()["errors"] == [
        {
            "field": "quantity",
            "message": "at most 120 t",
            "code": "negotiation.more_than_remains",
            "params": {"remaining": "120", "unit": "t"},
        }
    ]
    assert "only 120 t remain" in greedy.json()["detail"]

    # both sides are told, each in its language
    async def told(company: dict[str, Any], language: str) -> dict[str, Any] | None:
        rows = (await client.get(f"{INBOX}?lang={language}", headers=company["headers"])).json()
        return next((r for r in rows if r["event_type"] == "negotiation.reduced"), None)

    english = await eventually(lambda: told(builder, "en"))
    assert "only 120 t remain" in english["body"] and "from 520 t to 120 t" in english["body"]
    norwegian = await eventually(lambda: told(mill, "nb"))
    assert (
        norwegian["title"].startswith("Forhandling justert") and "120 t igjen" in norwegian["body"]
    )

    # both accept 120 t: a second contract, and nothing is ever cancelled
    agreed = await accept_both(client, second["id"], terms["id"], mill, builder)
    assert agreed.json()["status"] == "agreed"

    async def reserved() -> bool:
        row = (
            await client.get(f"/api/listings/listings/{offer['id']}", headers=mill["headers"])
        ).json()
        return float(row["remaining_quantity"]) == 0 and row["status"] == "reserved"

    await eventually(reserved)
    await asyncio.sleep(2)  # a refused reservation would cancel a contract by now
    contracts = (await client.get(f"{API}/contracts/", headers=mill["headers"])).json()
    assert sorted((float(c["quantity"]), c["status"]) for c in contracts) == [
        (120, "active"),
        (400, "active"),
    ]
    inbox = (await client.get(f"{INBOX}?lang=nb", headers=mill["headers"])).json()
    assert not [n for n in inbox if n["event_type"] == "contract.cancelled"]


async def test_two_acceptances_at_the_same_moment_make_one_contract(
    client: httpx.AsyncClient,
) -> None:
    # Soil and stones (17 05 04), traded by this test alone: 100 t, wanted whole by two.
    code = "17 05 04"
    quarry = await register_company(client, "Concurrent Grus AS")
    first = await register_company(client, "Concurrent Vei AS")
    second = await register_company(client, "Concurrent Park AS")
    offer = (
        await client.post(
            "/api/listings/listings/",
            json=listing("offer", code, 100, 50, "Excavated soil"),
            headers=quarry["headers"],
        )
    ).json()
    for buyer, title in ((first, "Soil for the road"), (second, "Soil for the park")):
        await client.post(
            "/api/listings/listings/",
            json=listing("need", code, 100, 80, title),
            headers=buyer["headers"],
        )
    one = await negotiation_of(client, first, quarry)
    two = await negotiation_of(client, second, quarry)
    # the supplier accepts both; the two buyers then accept at the same moment
    for n in (one, two):
        answer = await post(
            client, f"/negotiations/{n['id']}/accept", quarry, {"terms_id": n["terms"]["id"]}
        )
        assert answer.status_code == 200, answer.text
    answers = await asyncio.gather(
        post(client, f"/negotiations/{one['id']}/accept", first, {"terms_id": one["terms"]["id"]}),
        post(client, f"/negotiations/{two['id']}/accept", second, {"terms_id": two["terms"]["id"]}),
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409).json()
    # nothing remains for the slower one: its negotiation was withdrawn before it could agree
    assert "withdrawn" in refused["detail"] or "remain" in refused["detail"], refused
    winner = next(a for a in answers if a.status_code == 200).json()
    assert winner["status"] == "agreed"
    loser_id = two["id"] if winner["id"] == one["id"] else one["id"]
    loser = (await client.get(f"{API}/negotiations/{loser_id}", headers=quarry["headers"])).json()
    assert loser["status"] == "withdrawn" and loser["contract_id"] is None

    async def reserved() -> bool:
        row = (
            await client.get(f"/api/listings/listings/{offer['id']}", headers=quarry["headers"])
        ).json()
        return float(row["remaining_quantity"]) == 0

    await eventually(reserved)
    await asyncio.sleep(2)
    contracts = (await client.get(f"{API}/contracts/", headers=quarry["headers"])).json()
    assert [(float(c["quantity"]), c["status"]) for c in contracts] == [(100, "active")]


async def test_a_stream_reserves_per_period(client: httpx.AsyncClient) -> None:
    # Steam of 6 bar, 350 MWh a month (test_email trades steam of 20 bar and more, which these
    # needs refuse and this offer does not reach).
    steam = {"resource_class": "steam", "unit": "MWh", "frequency": "monthly"}
    quality = [
        {"property": "temperature_c", "unit": "°C", "value": 160},
        {"property": "pressure_bar", "unit": "bar", "value": 6},
    ]
    plant = await register_company(client, "Stream Dampkraft AS")
    first = await register_company(client, "Stream Tørkeri AS")
    second = await register_company(client, "Stream Vaskeri AS")
    offer = (
        await client.post(
            "/api/listings/listings/",
            json={
                **steam,
                "kind": "offer",
                "title": "Steam from the turbine",
                "quantity": "350",
                "quality": quality,
                "price_per_unit_ore": 10000,
            },
            headers=plant["headers"],
        )
    ).json()
    assert offer.get("frequency") == "monthly", offer
    for buyer in (first, second):
        made = await client.post(
            "/api/listings/listings/",
            json={
                **steam,
                "kind": "need",
                "title": "Process steam",
                "quantity": "350",
                "quality": [
                    {"property": "temperature_c", "unit": "°C", "min": 120},
                    {"property": "pressure_bar", "unit": "bar", "min": 4, "max": 10},
                ],
                "price_per_unit_ore": 20000,
            },
            headers=buyer["headers"],
        )
        assert made.status_code == 201, made.text

    async def agree(buyer: dict[str, Any], total: str, start: str, end: str) -> httpx.Response:
        n = await negotiation_of(client, buyer, plant)
        terms = {
            "quantity": total,
            "unit": "MWh",
            "price_per_unit_ore": 15000,
            "schedule": "monthly",
            "delivery_from": start,
            "delivery_until": end,
        }
        countered = await post(client, f"/negotiations/{n['id']}/counter", buyer, terms)
        if countered.status_code != 200:
            return countered
        on_table = countered.json()["terms"]["id"]
        return await post(client, f"/negotiations/{n['id']}/accept", plant, {"terms_id": on_table})

    # January to June at 100 MWh a month, then July to December at the full 350 a month:
    # each month has room, though 2 100 MWh is far more than the listing's 350.
    year = 2030
    one = await agree(first, "600", f"{year}-01-01", f"{year}-06-30")
    assert one.status_code == 200 and one.json()["status"] == "agreed", one.text
    two = await agree(second, "2100", f"{year}-07-01", f"{year}-12-31")
    assert two.status_code == 200 and two.json()["status"] == "agreed", two.text

    # and the listings service holds both, per month, without refusing either
    async def both_reserved() -> bool:
        contracts = (await client.get(f"{API}/contracts/", headers=plant["headers"])).json()
        return len(contracts) == 2 and all(c["status"] == "active" for c in contracts)

    await eventually(both_reserved)
    await asyncio.sleep(2)
    assert await both_reserved()
    row = (
        await client.get(f"/api/listings/listings/{offer['id']}", headers=plant["headers"])
    ).json()
    assert row["status"] == "open"
