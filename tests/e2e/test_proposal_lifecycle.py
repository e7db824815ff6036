"""Proposals follow their listings: retracted when they no longer hold, proposed again
when they do, and never kept for a withdrawn listing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import eventually, register_company

pytestmark = pytest.mark.e2e

# Wooden packaging serves a need for wood chips (knowledge base); no other test trades it.
PALLETS = {
    "kind": "offer",
    "ewc_code": "150103",
    "title": "Broken pallets, dry",
    "quantity": "30",
    "unit": "t",
    "quality": [{"property": "ash", "unit": "%", "value": 15}],
}
# The need limits a property no other test's listings state (the ash content), so that
# only this test's pallets can meet it (in a full run the need found a second counterpart
# among other tests').
CHIPS = {
    "kind": "need",
    "ewc_code": "030105",
    "title": "Chips for the lifecycle boiler",
    "quantity": "20",
    "unit": "t",
    "quality": [{"property": "ash", "unit": "%", "max": 45}],
}


async def statuses(client: httpx.AsyncClient, company: dict[str, Any]) -> dict[str, str]:
    rows = (await client.get("/api/matching/proposals/", headers=company["headers"])).json()
    return {row["id"]: row["status"] for row in rows}


async def titles(client: httpx.AsyncClient, company: dict[str, Any]) -> list[str]:
    rows = (
        await client.get("/api/notifications/inbox/?lang=en", headers=company["headers"])
    ).json()
    return sorted(row["title"] for row in rows)


async def test_a_proposal_is_retracted_proposed_again_and_retracted_on_withdrawal(
    client: httpx.AsyncClient,
) -> None:
    supplier = await register_company(client, "Pallet Supplier AS")
    receiver = await register_company(client, "Lifecycle Boiler AS")
    offer = (
        await client.post("/api/listings/listings/", json=PALLETS, headers=supplier["headers"])
    ).json()
    await client.post("/api/listings/listings/", json=CHIPS, headers=receiver["headers"])

    async def proposed() -> dict[str, str] | None:
        found = await statuses(client, receiver)  # the receiver's need is this test's own
        return found if list(found.values()) == ["proposed"] else None

    proposal_id = next(iter(await eventually(proposed)))
    need_id = (
        await client.get(f"/api/matching/proposals/{proposal_id}", headers=receiver["headers"])
    ).json()["need_id"]
    reasons = (await client.get("/api/matching/proposals/", headers=receiver["headers"])).json()
    assert any("ISO 17225-1" in r for r in reasons[0]["reasons"])
    assert "ash content 15 % meets the need's limit of at most 45 %" in reasons[0]["reasons"]

    # The pallets got charred in a fire: the ash limit no longer holds.
    path = f"/api/listings/listings/{offer['id']}"
    wet = await client.patch(
        path,
        headers=supplier["headers"],
        json={"quality": [{"property": "ash", "unit": "%", "value": 60}]},
    )
    assert wet.status_code == 200

    async def retracted() -> bool:
        # other tests' wood-chip needs may be offered these pallets too: look at ours only
        return (await statuses(client, supplier)).get(proposal_id) == "retracted"

    await eventually(retracted)

    async def told_both() -> bool:
        for company in (supplier, receiver):
            if not any(t.startswith("Proposal withdrawn") for t in await titles(client, company)):
                return False
        return True

    await eventually(told_both)
    # Why not any more: the receiver asks the matcher.
    explained = await client.get(
        f"/api/matching/listings/{need_id}/explain/{offer['id']}", headers=receiver["headers"]
    )
    assert explained.status_code == 200, explained.text
    assert explained.json()["proposed"] is False
    failing = [c for c in explained.json()["checks"] if not c["holds"]]
    assert failing == [
        {
            "rule": "quality:ash",
            "holds": False,
            "detail": "ash content 60 % fails the need's limit of at most 45 %",
            "code": "quality.outside_limit",
            "params": {
                "property": "ash",
                "unit": "%",
                "min": None,
                "max": 45.0,
                "stated_min": 60.0,
                "stated_max": 60.0,
            },
        }
    ]
    assert explained.json()["proposal_id"] == proposal_id
    assert explained.json()["proposal_status"] == "retracted"
    # only the need's owner may ask about it
    assert (
        await client.get(
            f"/api/matching/listings/{need_id}/explain/{offer['id']}", headers=supplier["headers"]
        )
    ).status_code == 404

    async def contracts_retracted() -> bool:
        view = await client.get(
            f"/api/contracts/proposals/{proposal_id}", headers=receiver["headers"]
        )
        return bool(view.json()["status"] == "retracted")

    await eventually(contracts_retracted)  # each service consumes at its own pace

    # Sorted again: the same pair is proposed again, under the same id.
    await client.patch(
        path,
        headers=supplier["headers"],
        json={"quality": [{"property": "ash", "unit": "%", "value": 18}]},
    )

    async def again() -> bool:
        return (await statuses(client, supplier)).get(proposal_id) == "proposed"

    await eventually(again)

    async def contracts_again() -> bool:
        view = await client.get(
            f"/api/contracts/proposals/{proposal_id}", headers=supplier["headers"]
        )
        return bool(view.json()["status"] == "proposed")

    await eventually(contracts_again)

    # Withdrawn: retracted for good.
    await client.post(path + "/withdraw", headers=supplier["headers"])
    await eventually(retracted)
    rows = (await client.get("/api/matching/proposals/", headers=supplier["headers"])).json()
    assert {r["retract_reason"] for r in rows} == {"the listing was withdrawn"}
