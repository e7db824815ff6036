"""Issue 16 on the running services: a need that names a use is proposed what the knowledge
base allows for it, with the rule's source in the reasons (read in bokmål in the inbox);
NACE codes are checked against the shipped list and turn into suggestions and draft
listings; the resource search knows Norwegian words; park administrators see latent
synergies and the park's open loops."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.test_accounts import PASSWORD, bearer, make_park_admin, sign_in, unique_email
from tests.support import Stack, eventually, org_number, register_company

pytestmark = pytest.mark.e2e

# Far north, where no other test puts a site.
NARVIK = {"latitude": 68.4385, "longitude": 17.4273}


async def register(client: httpx.AsyncClient, name: str, **profile: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/listings/companies/",
        json={"name": name, "org_number": org_number(), **profile},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["headers"] = {"Authorization": f"Bearer {body['api_key']}"}
    return body


async def test_a_need_for_a_use_is_proposed_what_the_knowledge_base_allows(
    client: httpx.AsyncClient,
) -> None:
    # sulphur for sulphuric acid: no other test trades a resource that serves this use
    refinery = await register(client, "Narvik Raffineri AS", location=NARVIK)
    acid_plant = await register(client, "Narvik Syre AS", location=NARVIK)
    offer = await client.post(
        "/api/listings/listings/",
        json={
            "kind": "offer",
            "ewc_code": "05 01 16",
            "title": "Sulphur from the desulphurisation unit",
            "quantity": "500",
            "unit": "t",
        },
        headers=refinery["headers"],
    )
    assert offer.status_code == 201, offer.text
    need = await client.post(
        "/api/listings/listings/",
        json={
            "kind": "need",
            "use": "acid_production",
            "title": "Raw material for the sulphuric acid plant",
            "quantity": "300",
            "unit": "t",
        },
        headers=acid_plant["headers"],
    )
    assert need.status_code == 201, need.text
    assert need.json()["use"] == "acid_production" and need.json()["ewc_code"] is None

    async def proposed() -> list[Any] | None:
        rows = (await client.get("/api/matching/proposals/", headers=acid_plant["headers"])).json()
        return [p for p in rows if p["need_id"] == need.json()["id"]] or None

    (proposal,) = await eventually(proposed)
    assert proposal["offer_id"] == offer.json()["id"]
    rule = proposal["reason_details"][0]
    assert rule["code"] == "resource.use" and rule["params"]["use"] == "acid_production"
    assert "Kalundborg" in rule["params"]["source"] and rule["params"]["basis_kind"] == (
        "documented case"
    )
    assert proposal["reasons"][0].startswith(
        "05 01 16 can serve as raw material for sulphuric acid by the knowledge base"
    )

    async def noted() -> list[Any] | None:
        inbox = await client.get(
            "/api/notifications/inbox/", params={"lang": "nb"}, headers=acid_plant["headers"]
        )
        return [n for n in inbox.json() if n["subject_id"] == proposal["id"]] or None

    (note,) = await eventually(noted)
    assert "kan brukes som råstoff til svovelsyre" in note["body"]
    assert "can serve as" not in note["body"]  # no English on a bokmål note


async def test_nace_codes_are_checked_and_become_suggestions_and_drafts(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post(
        "/api/listings/companies/",
        json={"name": "Nowhere AS", "org_number": org_number(), "nace_codes": ["00.00"]},
    )
    assert refused.status_code == 400
    assert any(e["field"].endswith("nace_codes") for e in refused.json()["errors"]), refused.text
    sawmill = await register(client, "Narvik Sag AS", nace_codes=["16.11"], location=NARVIK)
    offered = {s["resource"] for s in sawmill["suggestions"] if s["kind"] == "offer"}
    assert {"030101", "030105"} <= offered  # bark, sawdust
    assert all(s["basis"] for s in sawmill["suggestions"])
    listed = await client.get("/api/listings/companies/me/suggestions/", headers=sawmill["headers"])
    assert listed.json() == sawmill["suggestions"]
    draft = await client.post(
        "/api/listings/companies/me/suggestions/draft",
        json={"kind": "offer", "nace": "16.11", "resource": "030105"},
        headers=sawmill["headers"],
    )
    assert draft.status_code == 201, draft.text
    assert draft.json()["status"] == "draft" and draft.json()["ewc_code"] == "030105"
    assert draft.json()["location"]["latitude"] == NARVIK["latitude"]
    foreign = await client.post(
        "/api/listings/companies/me/suggestions/draft",
        json={"kind": "offer", "nace": "23.51", "resource": "class:heat"},
        headers=sawmill["headers"],
    )
    assert foreign.status_code == 400 and foreign.json()["errors"][0]["field"] == "resource"


async def test_a_retired_class_and_a_heat_draft_without_its_temperature_are_refused(
    client: httpx.AsyncClient,
) -> None:
    company = await register_company(client, "Retired Class AS")
    granulate = await client.post(
        "/api/listings/listings/",
        json={
            "kind": "offer",
            "resource_class": "by_product",
            "title": "PE granulate",
            "quantity": "10",
            "unit": "t",
        },
        headers=company["headers"],
    )
    assert granulate.status_code == 400 and "by_product is retired" in granulate.text
    centre = await register(client, "Narvik Data AS", nace_codes=["63.10"])
    draft = await client.post(
        "/api/listings/companies/me/suggestions/draft",
        json={"kind": "offer", "nace": "63.10", "resource": "class:heat"},
        headers=centre["headers"],
    )
    assert draft.status_code == 201, draft.text
    published = await client.post(
        f"/api/listings/listings/{draft.json()['id']}/publish", headers=centre["headers"]
    )
    assert published.status_code == 400
    assert published.json()["errors"][0]["field"] == "quality"
    assert "temperature_c" in published.json()["errors"][0]["message"]


async def test_the_resource_search_knows_norwegian_words_and_typos(
    client: httpx.AsyncClient,
) -> None:
    company = await register_company(client, "Search AS")
    for word, expected in (
        ("gips", "100105"),
        ("slam", "190805"),
        ("aske", "100101"),
        ("yeast", "020704"),
        ("fish", "020202"),
        ("molasses", "class:food_residue"),
        ("fertiliser", "class:fertiliser"),
        ("gibs", "170802"),
        ("slammet", "020101"),
        ("sagflis", "030105"),
        ("myse", "020501"),
    ):
        found = await client.get(
            "/api/listings/resources/search", params={"q": word}, headers=company["headers"]
        )
        assert found.status_code == 200, found.text
        assert expected in {h["resource"] for h in found.json()}, (word, found.json())
    empty = await client.get(
        "/api/listings/resources/search", params={"q": ""}, headers=company["headers"]
    )
    assert empty.status_code == 400


async def test_the_park_administrator_sees_latent_synergies_and_open_loops(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    email = unique_email("uncover")
    make_park_admin(stack, email, PASSWORD)
    admin = bearer(await sign_in(client, email))
    sawmill = await register(client, "Latent Sag AS", nace_codes=["16.11"], location=NARVIK)
    boiler = await register(client, "Latent Varme AS", nace_codes=["35.30"], location=NARVIK)
    synergies = await client.get("/api/listings/park/latent-synergies?limit=200", headers=admin)
    assert synergies.status_code == 200, synergies.text
    ours = [
        s
        for s in synergies.json()
        if s["supplier"]["id"] == sawmill["company"]["id"]
        and s["receiver"]["id"] == boiler["company"]["id"]
    ]
    assert ours and {"030105", "030101"} <= {link["resource"] for link in ours[0]["links"]}
    assert ours[0]["distance_km"] == 0
    # a refinery beside a waste incinerator: refineries took steam at three documented places
    burner = await register(client, "Latent Forbrenning AS", nace_codes=["38.22"], location=NARVIK)
    refinery = await register(client, "Latent Raffineri AS", nace_codes=["19.20"], location=NARVIK)
    synergies = await client.get("/api/listings/park/latent-synergies?limit=200", headers=admin)
    (steam,) = [
        s
        for s in synergies.json()
        if s["supplier"]["id"] == burner["company"]["id"]
        and s["receiver"]["id"] == refinery["company"]["id"]
    ]
    places = {p["place"] for p in steam["precedents"] if p["resource"] == "class:steam"}
    assert {"Kalundborg, Denmark", "Kwinana, Australia"} <= places
    assert all(p["source"] for p in steam["precedents"])
    # a company is not told the park's synergies
    assert (
        await client.get("/api/listings/park/latent-synergies", headers=sawmill["headers"])
    ).status_code == 403
    sand = await client.post(
        "/api/listings/listings/",
        json={
            "kind": "offer",
            "ewc_code": "10 01 24",
            "title": "Fluidised-bed sand",
            "quantity": "50",
            "unit": "t",
        },
        headers=sawmill["headers"],
    )
    assert sand.status_code == 201, sand.text
    loops = await client.get("/api/listings/park/open-loops", headers=admin)
    assert loops.status_code == 200, loops.text
    (loop,) = [x for x in loops.json() if x["listing_id"] == sand.json()["id"]]
    recruit = {a["nace"] for a in loop["recruit"]}
    assert "23.51" in recruit  # a cement works would take it (CLM BREF)
    assert loop["company"]["name"] == "Latent Sag AS"
    # flue-gas gypsum: plasterboard makers took it at Kalundborg and in Styria, so the
    # recruitment list names them first, with the places
    gypsum = await client.post(
        "/api/listings/listings/",
        json={
            "kind": "offer",
            "ewc_code": "10 01 05",
            "title": "Gypsum from the flue-gas desulphurisation",
            "quantity": "800",
            "unit": "t",
        },
        headers=sawmill["headers"],
    )
    assert gypsum.status_code == 201, gypsum.text
    loops = await client.get("/api/listings/park/open-loops", headers=admin)
    (loop,) = [x for x in loops.json() if x["listing_id"] == gypsum.json()["id"]]
    first = loop["recruit"][0]
    assert first["nace"] == "23.62", loop["recruit"]
    assert {"Kalundborg, Denmark", "Styria, Austria"} <= set(first["precedents"])
