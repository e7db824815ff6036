"""Every endpoint of every service, walked as a stranger and as another company.

The walk reads the OpenAPI documents, so an endpoint added later is walked too: without
credentials everything but the public endpoints answers 401; with another company's
credentials, anything that names the first company's things answers 403 or 404, never
their data.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.support import eventually, register_company

pytestmark = pytest.mark.e2e

SERVICES = ("listings", "matching", "contracts", "notifications")
PUBLIC = {
    ("POST", "/api/listings/companies"),
    ("POST", "/api/listings/auth/token"),
    ("POST", "/api/listings/people/accept-invitation"),
    ("POST", "/api/listings/people/confirm-email"),  # the link's token is the credential
    ("GET", "/api/listings/health"),
    ("GET", "/api/matching/health"),
    ("GET", "/api/contracts/health"),
    ("GET", "/api/notifications/health"),
    ("POST", "/api/contracts/stripe/webhook"),  # signed by Stripe instead; tested there
}


# Valid bodies, so that what answers is the check of who may act, not the body's validation.
BODIES: dict[str, Any] = {
    "accept": {"terms_id": str(uuid.uuid4())},
    "counter": {"quantity": "1", "unit": "t", "price_per_unit_ore": 100},
    "decline": {},
    "deliveries": {"quantity": "1", "delivered_on": "2026-01-05"},
    "cancel": {"reason": "no longer needed"},
    "dispute": {"reason": "wrong material"},
}


PATCH_BODIES: dict[str, Any] = {"{endpoint_id}": {"description": "mine now"}}
# Path parameters that are numbers (a dead letter's partition and offset).
NUMBERS = {"partition", "offset"}


async def operations(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    found = []
    for service in SERVICES:
        document = (await client.get(f"/api/{service}/schema/openapi.json")).json()
        for path, methods in document["paths"].items():
            for method in methods:
                if method.upper() in {"GET", "POST", "PATCH", "PUT", "DELETE"}:
                    found.append((method.upper(), path))
    return found


async def test_without_credentials_only_public_endpoints_answer(
    client: httpx.AsyncClient,
) -> None:
    walked = await operations(client)
    assert len(walked) > 20
    for method, path in walked:
        if (method, path) in PUBLIC:
            continue
        concrete = re.sub(
            r"\{([^}]+)\}",
            lambda m: "0" if m[1] in NUMBERS else "00000000-0000-0000-0000-000000000000",
            path,
        )
        response = await client.request(method, concrete, json={} if method != "GET" else None)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["content-type"].startswith("application/problem+json")


# What every member may read of another company, by design: its name and plot.
PUBLIC_TO_MEMBERS = {"/api/listings/companies/{company_id}/card"}


async def test_another_company_gets_nothing_of_the_first(client: httpx.AsyncClient) -> None:
    owner = await register_company(client, "Owner of things AS")
    partner = await register_company(client, "Trading partner AS")
    stranger = await register_company(client, "Stranger AS")
    body = {"ewc_code": "020304", "title": "Rejected produce", "quantity": "8", "unit": "t"}
    draft = (
        await client.post(
            "/api/listings/listings/",
            headers=owner["headers"],
            json={**body, "kind": "offer", "publish": False},
        )
    ).json()
    offer = (
        await client.post(
            "/api/listings/listings/", headers=owner["headers"], json={**body, "kind": "offer"}
        )
    ).json()
    await client.post(
        "/api/listings/listings/", headers=partner["headers"], json={**body, "kind": "need"}
    )

    async def proposal() -> dict[str, Any] | None:
        rows = (await client.get("/api/contracts/proposals/", headers=owner["headers"])).json()
        return rows[0] if rows else None

    proposal_row = await eventually(proposal)

    async def noted() -> list[Any] | None:
        rows = (await client.get("/api/notifications/inbox/", headers=owner["headers"])).json()
        return list(rows) or None

    inbox = await eventually(noted)  # the notifications service may lag the contracts one
    keys = (await client.get("/api/listings/api-keys/", headers=owner["headers"])).json()
    ids = {
        "listing_id": draft["id"],
        "proposal_id": proposal_row["id"],
        "entry_id": inbox[0]["id"],
        "key_id": keys[0]["id"],
        "company_id": owner["company"]["id"],
        "person_id": owner["company"]["id"],
        "other_id": offer["id"],
        "plan_id": str(uuid.uuid4()),  # plans are the park administrators' alone: 403
        "negotiation_id": proposal_row["id"],
        "contract_id": str(uuid.uuid4()),
        "delivery_id": str(uuid.uuid4()),
        "invoice_id": str(uuid.uuid4()),
        "table": "exchanges",
        "endpoint_id": str(uuid.uuid4()),
        "credential_id": str(uuid.uuid4()),  # partners' credentials: park administrators' (403)
        # dead letters are the park office's to replay (403)
        "partition": "0",
        "offset": "0",
    }
    secrets = {draft["id"], proposal_row["id"], inbox[0]["id"], keys[0]["id"]}
    for method, path in await operations(client):
        names = re.findall(r"\{([^}:]+)(?::[^}]+)?\}", path)
        if not names:
            continue
        concrete = path
        for name in names:
            concrete = re.sub(r"\{" + name + r"(:[^}]+)?\}", ids[name], concrete)
        if path in PUBLIC_TO_MEMBERS:
            card = await client.get(concrete, headers=stranger["headers"])
            assert card.status_code == 200 and set(card.json()) == {"id", "name", "plot"}
            continue
        response = await client.request(
            method,
            concrete,
            headers=stranger["headers"],
            json=(
                PATCH_BODIES.get(path.rsplit("/", 1)[-1], {"quantity": "1"})
                if method == "PATCH"
                else BODIES.get(path.rsplit("/", 1)[-1])
            ),
        )
        assert response.status_code in (403, 404), (method, path, response.status_code)
        assert not any(secret in response.text for secret in secrets - {ids[n] for n in names}), (
            method,
            path,
        )
    # the owner's open offer is public, its draft and everything else is not
    assert (
        await client.get(f"/api/listings/listings/{offer['id']}", headers=stranger["headers"])
    ).status_code == 200
    for path in (
        "/api/contracts/proposals/",
        "/api/notifications/inbox/",
        "/api/matching/proposals/",
        "/api/listings/people/",
        "/api/listings/api-keys/",
    ):
        response = await client.get(path, headers=stranger["headers"])
        assert response.status_code == 200, path
        assert not any(secret in response.text for secret in secrets), path
