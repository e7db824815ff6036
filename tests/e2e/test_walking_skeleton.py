"""The thread through all four services, on a real broker and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support import Stack, eventually, register_company

pytestmark = pytest.mark.e2e


async def post_listing(
    client: httpx.AsyncClient, company: dict[str, Any], kind: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "kind": kind,
        "ewc_code": "10 01 03",  # fly ash: no other test trades it, so no other match
        "title": f"Sawdust {kind}",
        "quantity": "40",
        "unit": "t",
        **fields,
    }
    response = await client.post("/api/listings/listings/", json=body, headers=company["headers"])
    assert response.status_code == 201, response.text
    return dict(response.json())


async def inbox(client: httpx.AsyncClient, company: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get("/api/notifications/inbox/", headers=company["headers"])
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_an_offer_and_a_need_reach_both_inboxes_exactly_once(
    client: httpx.AsyncClient,
) -> None:
    sawmill = await register_company(client, "Sawmill AS")
    boiler = await register_company(client, "Bioenergy AS")
    offer = await post_listing(client, sawmill, "offer", quantity="120")
    need = await post_listing(client, boiler, "need", quantity="40", ewc_code="100103")
    assert offer["status"] == need["status"] == "open"

    async def both_notified() -> bool:
        return bool(await inbox(client, sawmill)) and bool(await inbox(client, boiler))

    await eventually(both_notified, timeout=30)
    await asyncio.sleep(2)  # time for any duplicate to arrive, if there were one
    supplier_inbox, receiver_inbox = await inbox(client, sawmill), await inbox(client, boiler)
    assert len(supplier_inbox) == len(receiver_inbox) == 1
    proposal_id = supplier_inbox[0]["subject_id"]
    assert receiver_inbox[0]["subject_id"] == proposal_id
    assert receiver_inbox[0]["link"] == f"/negotiations/{proposal_id}"  # the same id
    assert "40 t" in receiver_inbox[0]["body"]

    for company in (sawmill, boiler):
        response = await client.get("/api/contracts/proposals/", headers=company["headers"])
        proposals = response.json()
        assert [p["id"] for p in proposals] == [proposal_id]
    proposal = proposals[0]
    assert proposal["offer_id"] == offer["id"] and proposal["need_id"] == need["id"]
    assert proposal["supplier_company_id"] == sawmill["company"]["id"]
    assert proposal["receiver_company_id"] == boiler["company"]["id"]
    assert float(proposal["quantity"]) == 40.0

    # the inbox entry can be marked read, by its owner only
    entry = receiver_inbox[0]["id"]
    assert (
        await client.post(f"/api/notifications/inbox/{entry}/read", headers=sawmill["headers"])
    ).status_code == 404
    read = await client.post(f"/api/notifications/inbox/{entry}/read", headers=boiler["headers"])
    assert read.status_code == 200 and read.json()["read_at"]


async def test_a_company_sees_only_what_it_is_party_to(client: httpx.AsyncClient) -> None:
    supplier = await register_company(client, "Supplier AS")
    receiver = await register_company(client, "Receiver AS")
    outsider = await register_company(client, "Outsider AS")
    await post_listing(client, supplier, "offer", ewc_code="150102", title="Plastic film")
    await post_listing(client, receiver, "need", ewc_code="150102", title="Plastic film")

    async def proposal_id() -> str | None:
        rows = (await client.get("/api/contracts/proposals/", headers=receiver["headers"])).json()
        return rows[0]["id"] if rows else None

    pid = await eventually(proposal_id)
    assert (
        await client.get(f"/api/contracts/proposals/{pid}", headers=supplier["headers"])
    ).status_code == 200
    for path in (f"/api/contracts/proposals/{pid}",):
        response = await client.get(path, headers=outsider["headers"])
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    for path in (
        "/api/contracts/proposals/",
        "/api/notifications/inbox/",
        "/api/matching/proposals/",
    ):
        response = await client.get(path, headers=outsider["headers"])
        assert response.status_code == 200 and response.json() == [], path


@pytest.mark.parametrize(
    "path",
    [
        "/api/listings/companies/me",
        "/api/listings/listings/",
        "/api/matching/proposals/",
        "/api/contracts/proposals/",
        "/api/notifications/inbox/",
    ],
)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer vpk_not.a.token",
        # signed with another key: a well-formed token this exchange never issued
        "Bearer vpk_eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ2aWtlbi1zeW1iaW9zaXMiLCJzdWIi"
        "OiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCJqdGkiOiIwMDAwMDAwMC0wMDAwLTAwMDAt"
        "MDAwMC0wMDAwMDAwMDAwMDAiLCJ0eXAiOiJhcGlfa2V5In0.c2lnbmF0dXJl",
    ],
)
async def test_missing_or_wrong_keys_get_401_problem_details(
    client: httpx.AsyncClient, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401 and body["detail"]


async def count_listings(client: httpx.AsyncClient, company: dict[str, Any]) -> int:
    response = await client.get("/api/listings/listings/?mine=true", headers=company["headers"])
    return len(response.json()["items"])


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ewc_code": "999999"}, "ewc_code", "not a code of the European List of Waste"),
        ({"ewc_code": "03 01"}, "ewc_code", "not a code of the European List of Waste"),
        ({"quantity": "-5"}, "quantity", "greater than zero"),
        ({"quantity": "0"}, "quantity", "greater than zero"),
        ({"unit": "barrels"}, "unit", ""),
        # rules across fields name the field a person would correct (issue 18)
        ({"unit": "MWh"}, "unit", "materials are measured in"),
        ({"ewc_code": "030104"}, "hazardous", "confirm it with"),
        (
            {"available_from": "2027-05-01", "available_until": "2027-04-01"},
            "available_until",
            "ends before it starts",
        ),
        ({"price_per_unit_ore": 10**13}, "price_per_unit_ore", ""),
        ({"kind": "gift"}, "kind", ""),
        ({"title": ""}, "title", ""),
    ],
)
async def test_bad_listings_are_refused_and_change_nothing(
    client: httpx.AsyncClient, changes: dict[str, Any], field: str, words: str
) -> None:
    company = await register_company(client, "Careful AS")
    body = {
        "kind": "offer",
        "ewc_code": "030105",
        "title": "Sawdust",
        "quantity": "5",
        "unit": "t",
        **changes,
    }
    response = await client.post("/api/listings/listings/", json=body, headers=company["headers"])
    assert response.status_code == 400, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert words in problem["errors"][0]["message"]
    assert await count_listings(client, company) == 0


async def test_malformed_json_is_a_problem_not_a_crash(client: httpx.AsyncClient) -> None:
    company = await register_company(client, "Typo AS")
    response = await client.post(
        "/api/listings/listings/",
        content=b"{not json",
        headers={**company["headers"], "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("org_number", "words"),
    [("921081147", "mod-11"), ("12345", "not a valid"), ("abcdefghi", "not a valid")],
)
async def test_an_invalid_organisation_number_registers_nothing(
    client: httpx.AsyncClient, stack: Stack, org_number: str, words: str
) -> None:
    name = f"Invalid {uuid.uuid4().hex[:6]} AS"
    response = await client.post(
        "/api/listings/companies/", json={"name": name, "org_number": org_number}
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["errors"][0]["field"] == "org_number"
    assert words in problem["errors"][0]["message"]


async def test_an_organisation_registers_once(client: httpx.AsyncClient) -> None:
    first = await register_company(client, "Once AS")
    response = await client.post(
        "/api/listings/companies/",
        json={"name": "Twice AS", "org_number": first["company"]["org_number"]},
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "org_number"


async def test_every_service_publishes_its_openapi_document(client: httpx.AsyncClient) -> None:
    for name in ("listings", "matching", "contracts", "notifications"):
        response = await client.get(f"/api/{name}/schema/openapi.json")
        assert response.status_code == 200, name
        document = response.json()
        assert document["info"]["title"].endswith(name)
        assert any(path.startswith(f"/api/{name}/") for path in document["paths"])
