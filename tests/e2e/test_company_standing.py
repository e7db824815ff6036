"""The park office verifies, suspends and reinstates a company, on the real stack: only a
park administrator may; bad input and impossible transitions change nothing; a suspended
company cannot post, publish or change listings (refused with a code the portal words);
its open listings leave the matcher (their proposals retracted) and others' search, and
come back when it is reinstated; its people still sign in and read; each decision is in
the audit log and on `company.changed`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.test_accounts import PASSWORD, bearer, make_park_admin, sign_in, unique_email
from tests.support import Infra, Stack, eventually, read_topic, register_company

pytestmark = pytest.mark.e2e

# A property no other test's listings state, so that only this test's listings meet each
# other.
OFFER = {
    "kind": "offer",
    "ewc_code": "150103",
    "title": "Pallets from a company the park suspends",
    "quantity": "30",
    "unit": "t",
    "quality": [{"property": "dry_matter", "unit": "%", "value": 85}],
}
NEED = {
    "kind": "need",
    "ewc_code": "030105",
    "title": "Chips for the standing boiler",
    "quantity": "20",
    "unit": "t",
    "quality": [{"property": "dry_matter", "unit": "%", "min": 55}],
}


async def proposals(client: httpx.AsyncClient, company: dict[str, Any]) -> dict[str, str]:
    rows = (await client.get("/api/matching/proposals/", headers=company["headers"])).json()
    return {row["id"]: row["status"] for row in rows}


async def park_admin(client: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    email = unique_email("park")
    make_park_admin(stack, email, PASSWORD)
    return bearer(await sign_in(client, email))


async def test_a_suspended_company_cannot_trade_until_it_is_reinstated(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    park = await park_admin(client, stack)
    supplier = await register_company(
        client,
        "Standing Pallets AS",
        admin={"name": "Kari", "email": unique_email("kari"), "password": PASSWORD},
    )
    receiver = await register_company(client, "Standing Boiler AS")
    company_id = supplier["company"]["id"]
    assert supplier["company"]["status"] == "registered"
    base = f"/api/listings/companies/{company_id}"

    # Only park administrators decide; a company cannot verify itself.
    for path in ("verify", "reinstate"):
        refused = await client.post(f"{base}/{path}", headers=supplier["headers"])
        assert refused.status_code == 403, refused.text
    refused = await client.post(
        f"{base}/suspend", headers=receiver["headers"], json={"reason": "x"}
    )
    assert refused.status_code == 403
    # Bad input names the field; an unknown company is 404; nothing changes.
    for body in ({}, {"reason": "   "}, {"reason": "x" * 501}, {"reason": 5}):
        bad = await client.post(f"{base}/suspend", headers=park, json=body)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.json()["errors"][0]["field"].endswith("reason"), bad.text
    unknown = await client.post(
        "/api/listings/companies/00000000-0000-4000-8000-000000000000/verify", headers=park
    )
    assert unknown.status_code == 404
    # Reinstating a company that is not suspended is impossible.
    impossible = await client.post(f"{base}/reinstate", headers=park)
    assert impossible.status_code == 409
    assert impossible.json()["code"] == "company.transition_impossible"
    assert (await client.get(base, headers=park)).json()["status"] == "registered"

    verified = await client.post(f"{base}/verify", headers=park)
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified"
    assert verified.json()["verified_at"]
    again = await client.post(f"{base}/verify", headers=park)
    assert again.status_code == 409

    offer = await client.post("/api/listings/listings/", json=OFFER, headers=supplier["headers"])
    assert offer.status_code == 201, offer.text
    draft = await client.post(
        "/api/listings/listings/", json=OFFER | {"publish": False}, headers=supplier["headers"]
    )
    assert draft.status_code == 201
    need = await client.post("/api/listings/listings/", json=NEED, headers=receiver["headers"])
    assert need.status_code == 201

    async def proposed() -> str | None:
        found = await proposals(client, receiver)
        return next((k for k, v in found.items() if v == "proposed"), None)

    proposal_id = await eventually(proposed, timeout=60)

    suspended = await client.post(
        f"{base}/suspend", headers=park, json={"reason": "Ubetalt leie siden mars"}
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["status_reason"] == "Ubetalt leie siden mars"
    twice = await client.post(f"{base}/suspend", headers=park, json={"reason": "again"})
    assert twice.status_code == 409

    # Posting, publishing and changing are refused with the code and the reason.
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/api/listings/listings/", OFFER),
        ("POST", f"/api/listings/listings/{draft.json()['id']}/publish", None),
        ("PATCH", f"/api/listings/listings/{offer.json()['id']}", {"quantity": "10"}),
    ]
    for method, path, sent in attempts:
        answer = await client.request(method, path, json=sent, headers=supplier["headers"])
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["code"] == "company.suspended"
        assert answer.json()["params"] == {"reason": "Ubetalt leie siden mars"}
    # Its people still sign in and read their own listings (and see why).
    person = bearer(await sign_in(client, supplier["admin"]["email"]))
    me = (await client.get("/api/listings/companies/me", headers=person)).json()
    assert me["status"] == "suspended" and me["status_reason"] == "Ubetalt leie siden mars"
    own = await client.get(f"/api/listings/listings/{offer.json()['id']}", headers=person)
    assert own.status_code == 200
    # Others no longer find its offer.
    hidden = await client.get(
        f"/api/listings/listings/{offer.json()['id']}", headers=receiver["headers"]
    )
    assert hidden.status_code == 404
    found = (
        await client.get(
            "/api/listings/listings/?kind=offer&ewc_code=150103&limit=200",
            headers=receiver["headers"],
        )
    ).json()["items"]
    assert offer.json()["id"] not in {i["id"] for i in found}

    # The matcher dropped the offer: its proposal is retracted, and a new need finds nothing.
    async def retracted() -> bool:
        return (await proposals(client, receiver)).get(proposal_id) == "retracted"

    await eventually(retracted, timeout=60)
    latecomer = await register_company(client, "Standing Latecomer AS")
    await client.post("/api/listings/listings/", json=NEED, headers=latecomer["headers"])

    reinstated = await client.post(f"{base}/reinstate", headers=park)
    assert reinstated.status_code == 200, reinstated.text
    assert reinstated.json()["status"] == "verified"  # it had been verified
    assert reinstated.json()["status_reason"] is None

    # Had the latecomer's need been matched while the offer was suspended, a proposal
    # would already be there before the re-published offer could make one: none is.
    # Now the offer is matched again: both needs get their proposal.
    async def both() -> bool:
        return (await proposals(client, receiver)).get(proposal_id) == "proposed" and bool(
            await proposals(client, latecomer)
        )

    await eventually(both, timeout=60)
    posted = await client.post("/api/listings/listings/", json=OFFER, headers=supplier["headers"])
    assert posted.status_code == 201, posted.text

    # The audit log and the partners' company.changed say what the park decided.
    log = (
        await client.get(f"/api/listings/audit-log/?company_id={company_id}", headers=park)
    ).json()
    actions = [e["action"] for e in log]
    assert actions.index("company.reinstated") < actions.index("company.suspended")
    assert actions.index("company.suspended") < actions.index("company.verified")
    entry = next(e for e in log if e["action"] == "company.suspended")
    assert entry["details"]["reason"] == "Ubetalt leie siden mars"
    records = await read_topic(infra, stack.namespace + "listings.events.v1", timeout=10)
    statuses = [
        r.value for r in records if r.key == company_id.encode() and b'"company.changed"' in r.value
    ]
    assert any(b'"status":"suspended"' in s.replace(b" ", b"") for s in statuses)
    withdrawn = [
        r.value
        for r in records
        if r.key == offer.json()["id"].encode() and b'"listing.withdrawn"' in r.value
    ]
    assert any(b"company_suspended" in w for w in withdrawn)


async def test_the_park_people_page_lists_everyone_sorted_and_paged(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    park = await park_admin(client, stack)
    email = unique_email("aaa-people")
    company = await register_company(
        client,
        "People Page AS",
        admin={"name": "Aaaa Først", "email": email, "password": PASSWORD},
    )
    await sign_in(client, email)

    refused = await client.get("/api/listings/people/park", headers=company["headers"])
    assert refused.status_code == 403
    for query in ("sort=salary", "order=up", "limit=0", "offset=-1"):
        bad = await client.get(f"/api/listings/people/park?{query}", headers=park)
        assert bad.status_code == 400, (query, bad.text)

    page = (
        await client.get(
            "/api/listings/people/park?sort=last_sign_in&order=desc&limit=500", headers=park
        )
    ).json()
    assert page["total"] >= 2
    row = next(p for p in page["items"] if p["email"] == email)
    assert row["company_name"] == "People Page AS"
    assert row["role"] == "admin" and row["last_signed_in_at"]
    stamps = [p["last_signed_in_at"] for p in page["items"] if p["last_signed_in_at"]]
    assert stamps == sorted(stamps, reverse=True)
    first = (await client.get("/api/listings/people/park?limit=1", headers=park)).json()
    second = (await client.get("/api/listings/people/park?limit=1&offset=1", headers=park)).json()
    assert len(first["items"]) == len(second["items"]) == 1
    assert first["items"][0]["id"] != second["items"][0]["id"]
    ascending = (
        await client.get("/api/listings/people/park?sort=email&limit=500", headers=park)
    ).json()
    descending = (
        await client.get("/api/listings/people/park?sort=email&order=desc&limit=500", headers=park)
    ).json()
    if ascending["total"] <= 500:
        assert [p["id"] for p in ascending["items"]] == [
            p["id"] for p in reversed(descending["items"])
        ]
