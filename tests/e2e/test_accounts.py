"""Companies, people, roles and keys, as a company admin, a colleague, a park administrator
and a partner would use them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from symbiosis.admins import create_park_admin as add_park_admin
from symbiosis.config import StackSettings
from tests.support import REPO, Stack, eventually, org_number, register_company

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/listings/auth/token", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def unique_email(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.no"


async def register_with_admin(client: httpx.AsyncClient, **profile: Any) -> dict[str, Any]:
    email = unique_email("admin")
    body = {
        "name": "Glomma Fisk AS",
        "org_number": org_number(),
        "nace_codes": ["03.22"],
        "address": {"street": "Tofteberg 3", "postcode": "1617", "city": "Fredrikstad"},
        "location": {"plot": "C2", "latitude": 59.25, "longitude": 11.03},
        "contact": {"name": "Ola Nordmann", "email": email, "phone": "+47 900 00 000"},
        "admin": {"name": "Ola Nordmann", "email": email, "password": PASSWORD},
        **profile,
    }
    response = await client.post("/api/listings/companies/", json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    registered["email"] = email
    return registered


async def test_a_company_registers_with_its_profile_and_its_admin_signs_in(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_admin(client)
    company = registered["company"]
    assert company["nace_codes"] == ["03.22"]
    # a permit for hazardous waste is stated on its own and verified by the park
    # (tests/security/test_permits.py)
    assert company["permits"] == [] and company["permit"] is None
    assert company["location"] == {"plot": "C2", "latitude": 59.25, "longitude": 11.03}
    assert registered["admin"]["role"] == "admin" and registered["admin"]["status"] == "active"
    assert "password" not in str(registered["admin"])

    token = await sign_in(client, registered["email"].upper())  # e-mail is case-blind
    me = await client.get("/api/listings/companies/me", headers=bearer(token))
    assert me.json()["id"] == company["id"]
    # the same token is accepted by every service, which verifies it without listings
    for path in (
        "/api/notifications/inbox/",
        "/api/contracts/proposals/",
        "/api/matching/proposals/",
    ):
        assert (await client.get(path, headers=bearer(token))).status_code == 200, path

    changed = await client.patch(
        "/api/listings/companies/me",
        headers=bearer(token),
        json={"nace_codes": ["03.22", "10.20"], "contact": None},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["nace_codes"] == ["03.22", "10.20"]
    assert changed.json()["contact"] is None
    assert changed.json()["address"]["city"] == "Fredrikstad"  # not sent, kept


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"nace_codes": ["abc"]}, "nace_codes", "not a NACE code"),
        ({"permits": ["190813"]}, "permits", ""),  # stated with PUT /companies/me/permit
        ({"address": {"street": "x", "postcode": "16", "city": "F"}}, "address.postcode", ""),
        ({"location": {"latitude": 59.2}}, "location", "both latitude and longitude"),
        ({"contact": {"name": "x", "email": "not-an-address"}}, "contact.email", ""),
        (
            {"admin": {"name": "x", "email": "a@example.no", "password": "short"}},
            "admin.password",
            "at least 10 characters",
        ),
    ],
)
async def test_a_bad_profile_registers_nothing(
    client: httpx.AsyncClient, changes: dict[str, Any], field: str, words: str
) -> None:
    number = org_number()
    body = {"name": "Careless AS", "org_number": number, **changes}
    response = await client.post("/api/listings/companies/", json=body)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert errors[0]["field"] == field, errors
    assert words in errors[0]["message"]
    # nothing was stored: the same organisation number still registers
    retry = await client.post(
        "/api/listings/companies/", json={"name": "Careful AS", "org_number": number}
    )
    assert retry.status_code == 201


async def test_wrong_or_unknown_credentials_get_the_same_401(client: httpx.AsyncClient) -> None:
    registered = await register_with_admin(client)
    for email, password in (
        (registered["email"], "wrong password!"),
        ("nobody@example.no", PASSWORD),
    ):
        response = await client.post(
            "/api/listings/auth/token", json={"email": email, "password": password}
        )
        assert response.status_code == 401
        assert response.json()["detail"] == "the e-mail or the password is wrong"


async def test_an_admin_invites_a_colleague_who_accepts_and_signs_in(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_admin(client)
    admin = bearer(await sign_in(client, registered["email"]))
    email = unique_email("colleague")
    invited = await client.post(
        "/api/listings/people/",
        headers=admin,
        json={"email": email, "name": "Kari", "role": "member"},
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["person"]["status"] == "invited"
    first_token = invited.json()["invitation_token"]
    person_id = invited.json()["person"]["id"]

    # sent again: a new token; the first no longer works
    renewal = f"/api/listings/people/{person_id}/invitation"
    renewed = await client.post(renewal, headers=admin)
    assert renewed.status_code == 201, renewed.text
    token = renewed.json()["invitation_token"]
    assert token != first_token and renewed.json()["person"]["status"] == "invited"
    replaced = await client.post(
        "/api/listings/people/accept-invitation",
        json={"token": first_token, "password": PASSWORD},
    )
    assert replaced.status_code == 400

    # before accepting, the colleague cannot sign in
    response = await client.post(
        "/api/listings/auth/token", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 401
    bad = await client.post(
        "/api/listings/people/accept-invitation", json={"token": "x" * 40, "password": PASSWORD}
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "token"
    accepted = await client.post(
        "/api/listings/people/accept-invitation", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    again = await client.post(
        "/api/listings/people/accept-invitation", json={"token": token, "password": PASSWORD}
    )
    assert again.status_code == 400  # an invitation is used once
    # someone who has joined has no invitation to send again
    assert (await client.post(renewal, headers=admin)).status_code == 404

    member = bearer(await sign_in(client, email))
    assert (await client.post(renewal, headers=member)).status_code == 403
    colleagues = (await client.get("/api/listings/people/", headers=member)).json()
    assert sorted(p["email"] for p in colleagues) == sorted([registered["email"], email])
    # a member may post listings but may not manage people or keys
    assert (
        await client.post(
            "/api/listings/people/", headers=member, json={"email": unique_email("x"), "name": "X"}
        )
    ).status_code == 403
    assert (await client.get("/api/listings/api-keys/", headers=member)).status_code == 403
    assert (
        await client.patch(
            "/api/listings/companies/me", headers=member, json={"name": "Renamed AS"}
        )
    ).status_code == 403

    # the admin disables the colleague: signing in no longer works
    assert (
        await client.delete(f"/api/listings/people/{person_id}", headers=admin)
    ).status_code == 200
    response = await client.post(
        "/api/listings/auth/token", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 401


async def test_api_keys_are_listed_without_secrets_and_revoked_everywhere(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_admin(client)
    admin = bearer(await sign_in(client, registered["email"]))
    created = await client.post(
        "/api/listings/api-keys/", headers=admin, json={"label": "ERP integration"}
    )
    assert created.status_code == 201
    key = created.json()
    listed = (await client.get("/api/listings/api-keys/", headers=admin)).json()
    assert {k["label"] for k in listed} == {"first key", "ERP integration"}
    assert all("api_key" not in k for k in listed)

    erp = bearer(key["api_key"])
    assert (await client.get("/api/notifications/inbox/", headers=erp)).status_code == 200
    revoked = await client.delete(f"/api/listings/api-keys/{key['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.get("/api/listings/companies/me", headers=erp)).status_code == 401

    async def refused_everywhere() -> bool:
        codes = [
            (await client.get(p, headers=erp)).status_code
            for p in (
                "/api/notifications/inbox/",
                "/api/contracts/proposals/",
                "/api/matching/proposals/",
            )
        ]
        return codes == [401, 401, 401]

    await eventually(refused_everywhere, timeout=20)
    # another company cannot revoke (or see) this company's keys
    other = await register_company(client, "Other AS")
    first_key = next(k for k in listed if k["label"] == "first key")
    response = await client.delete(
        f"/api/listings/api-keys/{first_key['id']}", headers=other["headers"]
    )
    assert response.status_code == 404


def create_park_admin(stack: Stack, email: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "symbiosis",
            "create-park-admin",
            "--email",
            email,
            "--name",
            "Park Admin",
            "--password-stdin",
        ],
        input=password + "\n",
        env=stack.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_park_admin(stack: Stack, email: str, password: str) -> str:
    """A park administrator on ``stack``'s database, made by the function that
    `symbiosis create-park-admin` calls, in this process: the command itself (its checks and
    messages) is tested in test_park_administrators_and_partners; a new Python process for
    every other test that needs a park administrator cost each of them seconds of imports."""
    settings = StackSettings(database_url=SecretStr(stack.env["SYMBIOSIS_DATABASE_URL"]))
    made = add_park_admin(settings, email, "Park Admin", password)
    # A thread of its own: the callers are sync and async tests alike.
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, made).result(timeout=60)


async def test_park_administrators_and_partners(client: httpx.AsyncClient, stack: Stack) -> None:
    email = unique_email("park")
    result = create_park_admin(stack, email, PASSWORD)
    assert result.returncode == 0, result.stdout + result.stderr
    again = create_park_admin(stack, email, PASSWORD)
    assert again.returncode == 1 and "already" in again.stderr
    weak = create_park_admin(stack, unique_email("weak"), "short")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    assert "Traceback" not in again.stderr + weak.stderr

    park = bearer(await sign_in(client, email))
    company = await register_company(client, "Listed AS")
    companies = (await client.get("/api/listings/companies/?limit=500", headers=park)).json()
    assert company["company"]["id"] in {c["id"] for c in companies}
    one = await client.get(f"/api/listings/companies/{company['company']['id']}", headers=park)
    assert one.status_code == 200
    # companies cannot list the park, nor read each other
    assert (
        await client.get("/api/listings/companies/", headers=company["headers"])
    ).status_code == 403
    other = await register_company(client, "Curious AS")
    assert (
        await client.get(
            f"/api/listings/companies/{company['company']['id']}", headers=other["headers"]
        )
    ).status_code == 404

    partner = await client.post(
        "/api/listings/partner-keys/", headers=park, json={"label": "Carrier TMS"}
    )
    assert partner.status_code == 201
    partner_key = bearer(partner.json()["api_key"])
    assert (
        await client.post(
            "/api/listings/partner-keys/", headers=company["headers"], json={"label": "x"}
        )
    ).status_code == 403
    await client.post(
        "/api/listings/listings/",
        headers=company["headers"],
        json={
            "kind": "offer",
            "ewc_code": "150103",
            "title": "Pallets",
            "quantity": "3",
            "unit": "t",
        },
    )
    visible = await client.get("/api/listings/listings/", headers=partner_key)
    assert visible.status_code == 200 and visible.json()["items"]
    assert all(listing["status"] == "open" for listing in visible.json()["items"])
    refused = await client.post(
        "/api/listings/listings/",
        headers=partner_key,
        json={
            "kind": "offer",
            "ewc_code": "150103",
            "title": "Pallets",
            "quantity": "3",
            "unit": "t",
        },
    )
    assert refused.status_code == 403
    assert (await client.get("/api/notifications/inbox/", headers=partner_key)).status_code == 403


async def test_members_see_each_others_name_and_plot_and_nothing_more(
    client: httpx.AsyncClient,
) -> None:
    sawmill = await register_company(client, "Kortet Sagbruk AS")
    boiler = await register_company(client, "Kortet Bioenergi AS")
    updated = await client.patch(
        "/api/listings/companies/me",
        json={"location": {"plot": "C2", "latitude": 59.247, "longitude": 11.029}},
        headers=sawmill["headers"],
    )
    assert updated.status_code == 200, updated.text
    sawmill_id = sawmill["company"]["id"]
    card = await client.get(f"/api/listings/companies/{sawmill_id}/card", headers=boiler["headers"])
    assert card.status_code == 200, card.text
    assert card.json() == {"id": sawmill_id, "name": "Kortet Sagbruk AS", "plot": "C2"}
    # the profile itself (organisation number, contact, permits) stays private
    profile = await client.get(f"/api/listings/companies/{sawmill_id}", headers=boiler["headers"])
    assert profile.status_code == 404
    assert (await client.get(f"/api/listings/companies/{sawmill_id}/card")).status_code == 401
    unknown = await client.get(
        f"/api/listings/companies/{uuid.uuid4()}/card", headers=boiler["headers"]
    )
    assert unknown.status_code == 404
