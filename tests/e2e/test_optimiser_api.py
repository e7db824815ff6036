"""Park administrators run the park-wide optimiser on the open listings, see its plan
beside the pairwise proposals, and accept it: both parties get proposals marked as coming
from the optimiser."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.test_accounts import PASSWORD, bearer, make_park_admin, sign_in, unique_email
from tests.support import Stack, eventually, register_company

pytestmark = pytest.mark.e2e

# Paper packaging (15 01 01) is this test's own: no other test trades it. A need that
# takes 20 t with at most 25 mg/kg of lead (a property no other test's listing states) can
# only be met by blending the clean and the inked offer, which pairwise matching cannot do.
PROPERTY = "lead"


def paper(kind: str, tonnes: int, level: int, price_nok: int, title: str) -> dict[str, Any]:
    spec = {"value": level} if kind == "offer" else {"max": level}
    return {
        "kind": kind,
        "ewc_code": "15 01 01",
        "title": title,
        "quantity": str(tonnes),
        "unit": "t",
        "quality": [{"property": PROPERTY, "unit": "mg/kg", **spec}],
        "price_per_unit_ore": price_nok * 100,
    }


async def post(client: httpx.AsyncClient, who: dict[str, Any], body: dict[str, Any]) -> str:
    response = await client.post("/api/listings/listings/", json=body, headers=who["headers"])
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_park_admin_optimises_compares_and_accepts_a_plan(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    email = unique_email("optimiser")
    make_park_admin(stack, email, PASSWORD)
    admin = bearer(await sign_in(client, email))
    dry_mill = await register_company(client, "Dry Paper Mill AS")
    wet_mill = await register_company(client, "Wet Paper Mill AS")
    board = await register_company(client, "Board Maker AS")
    dry = await post(client, dry_mill, paper("offer", 10, 10, 100, "Dry paper packaging"))
    wet = await post(client, wet_mill, paper("offer", 10, 40, 50, "Wet paper packaging"))
    need = await post(client, board, paper("need", 20, 25, 300, "Paper for board"))

    async def pairwise() -> list[Any] | None:
        rows = (await client.get("/api/matching/proposals/", headers=board["headers"])).json()
        return rows or None

    proposals = await eventually(pairwise)  # the matcher proposes only the dry offer
    assert [(p["offer_id"], p["origin"]) for p in proposals] == [(dry, "matcher")]

    # only park administrators run the optimiser; a bad goal changes nothing
    refused = await client.post("/api/matching/optimisations/", json={}, headers=board["headers"])
    assert refused.status_code == 403
    listed = await client.get("/api/matching/optimisations/", headers=board["headers"])
    assert listed.status_code == 403
    bad = await client.post(
        "/api/matching/optimisations/", json={"objective": "mix"}, headers=admin
    )
    assert bad.status_code == 400 and "carbon_price_nok_per_t" in bad.text
    assert (await client.get("/api/matching/optimisations/", headers=admin)).status_code == 200

    response = await client.post(
        "/api/matching/optimisations/", json={"objective": "surplus"}, headers=admin
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    ours = {
        (f["offer_id"], f["need_id"]): f["quantity"]
        for f in plan["report"]["plan"]["flows"]
        if f["need_id"] == need
    }
    assert ours == {(dry, need): pytest.approx(10), (wet, need): pytest.approx(10)}
    greedy = {f["offer_id"] for f in plan["report"]["greedy"]["flows"] if f["need_id"] == need}
    assert greedy == {dry}
    assert plan["report"]["status"] == "optimal" and plan["report"]["gap"] == pytest.approx(0)
    assert plan["better_than_greedy"]["objective"] >= 10 * 250 - 1e-6  # the wet 10 t
    assert plan["pairwise"]["open_proposals"] >= 1
    assert plan["accepted_at"] is None
    seen = await client.get(f"/api/matching/optimisations/{plan['id']}", headers=admin)
    assert seen.status_code == 200 and seen.json()["report"] == plan["report"]

    accepted = await client.post(f"/api/matching/optimisations/{plan['id']}/accept", headers=admin)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["proposed"] >= 2 and accepted.json()["plan"]["accepted_at"]
    again = await client.post(f"/api/matching/optimisations/{plan['id']}/accept", headers=admin)
    assert again.status_code == 409

    async def from_plan(who: dict[str, Any]) -> list[Any] | None:
        rows = (await client.get("/api/matching/proposals/", headers=who["headers"])).json()
        found = [p for p in rows if p["origin"] == "optimiser" and p["plan_id"] == plan["id"]]
        return found or None

    for_board = await eventually(lambda: from_plan(board), timeout=10)
    assert sorted(p["offer_id"] for p in for_board) == sorted([dry, wet])
    wet_row = next(p for p in for_board if p["offer_id"] == wet)
    assert wet_row["reasons"][0].startswith("part of the park-wide plan: 10 t of the 20 t")
    first = wet_row["reason_details"][0]
    assert first["code"] == "plan.part" and first["params"]["plan"] == plan["id"]
    assert "the blend of the plan's supplies keeps the need's quality limits" in wet_row["reasons"]
    assert [p["offer_id"] for p in await eventually(lambda: from_plan(wet_mill))] == [wet]

    async def inbox() -> list[Any] | None:
        rows = (await client.get("/api/notifications/inbox/", headers=wet_mill["headers"])).json()
        return rows or None

    assert len(await eventually(inbox)) == 1  # the wet mill hears of its first proposal
    missing = await client.get(
        "/api/matching/optimisations/00000000-0000-0000-0000-000000000000", headers=admin
    )
    assert missing.status_code == 404
