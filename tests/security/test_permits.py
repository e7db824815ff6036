"""Permits the park verifies (issue 15, finding 8): companies declared their own permits
for hazardous waste and nothing checked them, yet a declaration let them ask for it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.security.probes import bearer, park_admin_token
from tests.support import Stack, register_company

pytestmark = pytest.mark.e2e

SLUDGE = "19 08 13"  # sludges containing hazardous substances, from industrial waste water
PERMIT = {
    "number": "2021.0117.T",
    "authority": "Statsforvalteren i Østfold, Buskerud, Oslo og Akershus",
    "valid_until": (date.today() + timedelta(days=365)).isoformat(),
    "waste_codes": [SLUDGE],
}


def sludge_need() -> dict[str, Any]:
    return {
        "kind": "need",
        "ewc_code": SLUDGE,
        "hazardous": True,
        "title": "Sludge for the treatment plant",
        "quantity": "3",
        "unit": "t",
        "publish": False,
    }


async def need(client: httpx.AsyncClient, company: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/listings/listings/", json=sludge_need(), headers=company["headers"]
    )


async def test_a_hazardous_need_waits_for_a_permit_the_park_has_verified(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    receiver = await register_company(client, "Sludge Treatment AS")
    company_id = receiver["company"]["id"]
    # declaring codes on the profile, as before, is no longer a thing
    declared = await client.patch(
        "/api/listings/companies/me", json={"permits": [SLUDGE]}, headers=receiver["headers"]
    )
    assert declared.status_code == 400
    refused = await need(client, receiver)
    assert refused.status_code == 400 and "no permit" in refused.text

    stated = await client.put(
        "/api/listings/companies/me/permit", json=PERMIT, headers=receiver["headers"]
    )
    assert stated.status_code == 200, stated.text
    assert (stated.json()["status"], stated.json()["valid"]) == ("stated", False)
    waiting = await need(client, receiver)
    assert waiting.status_code == 400 and "not been verified" in waiting.text

    # the company cannot verify its own permit
    own = await client.post(
        f"/api/listings/companies/{company_id}/permit/verify",
        json={"number": PERMIT["number"]},
        headers=receiver["headers"],
    )
    assert own.status_code == 403
    park = bearer(park_admin_token(stack))
    listed = (await client.get("/api/listings/permits/", headers=park)).json()
    assert company_id in {p["company_id"] for p in listed}
    wrong = await client.post(
        f"/api/listings/companies/{company_id}/permit/verify",
        json={"number": "another number"},
        headers=park,
    )
    assert wrong.status_code == 404
    verified = await client.post(
        f"/api/listings/companies/{company_id}/permit/verify",
        json={"number": PERMIT["number"]},
        headers=park,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["valid"] is True
    assert (await need(client, receiver)).status_code == 201
    profile = (await client.get("/api/listings/companies/me", headers=receiver["headers"])).json()
    assert profile["permits"] == ["190813"] and profile["permit"]["status"] == "verified"

    # anyone signed in reads it (a counterparty's hazardous-waste declaration names it)
    other = await register_company(client, "Sludge Supplier AS")
    read = await client.get(
        f"/api/listings/companies/{company_id}/permit", headers=other["headers"]
    )
    assert read.status_code == 200 and read.json()["number"] == PERMIT["number"]
    assert read.json()["valid"] is True

    # a code it does not cover, and a permit stated anew, wait again
    other_code = {**sludge_need(), "ewc_code": "16 06 01", "title": "Lead batteries"}
    uncovered = await client.post(
        "/api/listings/listings/", json=other_code, headers=receiver["headers"]
    )
    assert uncovered.status_code == 400 and "does not cover" in uncovered.text
    await client.put(
        "/api/listings/companies/me/permit",
        json={**PERMIT, "waste_codes": [SLUDGE, "16 06 01"]},
        headers=receiver["headers"],
    )
    assert (await need(client, receiver)).status_code == 400

    # verified, then run out
    await client.post(
        f"/api/listings/companies/{company_id}/permit/verify",
        json={"number": PERMIT["number"]},
        headers=park,
    )
    assert (await need(client, receiver)).status_code == 201
    conn = await asyncpg.connect(stack.env["SYMBIOSIS_DATABASE_URL"])
    try:
        await conn.execute(
            "UPDATE listings.permits SET valid_until = current_date - 1 WHERE company_id = $1",
            receiver["company"]["id"],
        )
    finally:
        await conn.close()
    expired = await need(client, receiver)
    assert expired.status_code == 400 and "run out" in expired.text


async def test_a_rejected_permit_says_why(client: httpx.AsyncClient, stack: Stack) -> None:
    company = await register_company(client, "Doubtful Permits AS")
    company_id = company["company"]["id"]
    await client.put("/api/listings/companies/me/permit", json=PERMIT, headers=company["headers"])
    park = bearer(park_admin_token(stack))
    without = await client.post(
        f"/api/listings/companies/{company_id}/permit/reject",
        json={"number": PERMIT["number"]},
        headers=park,
    )
    assert without.status_code == 400
    rejected = await client.post(
        f"/api/listings/companies/{company_id}/permit/reject",
        json={"number": PERMIT["number"], "reason": "not in the register"},
        headers=park,
    )
    assert rejected.status_code == 200
    mine = (await client.get("/api/listings/companies/me", headers=company["headers"])).json()
    assert mine["permit"]["status"] == "rejected"
    assert mine["permit"]["rejection_reason"] == "not in the register"
    refused = await need(client, company)
    assert refused.status_code == 400 and "not accepted" in refused.text


async def test_a_permit_that_has_run_out_cannot_be_stated(client: httpx.AsyncClient) -> None:
    company = await register_company(client, "Late Permits AS")
    stale = await client.put(
        "/api/listings/companies/me/permit",
        json={**PERMIT, "valid_until": "2020-01-01"},
        headers=company["headers"],
    )
    assert stale.status_code == 400
    assert stale.json()["errors"][0]["field"] == "valid_until"
    not_hazardous = await client.put(
        "/api/listings/companies/me/permit",
        json={**PERMIT, "waste_codes": ["03 01 05"]},
        headers=company["headers"],
    )
    assert not_hazardous.status_code == 400
