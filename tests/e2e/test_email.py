"""Notification e-mails on the running services and a real SMTP server: each person of
the right company, in the language they chose, once, as they prefer."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import MailDrop
from tests.e2e.test_accounts import PASSWORD, bearer, sign_in, unique_email
from tests.support import eventually, org_number

pytestmark = pytest.mark.e2e


async def register(client: httpx.AsyncClient, name: str, language: str) -> dict[str, Any]:
    email = unique_email(name.split()[0].lower())
    response = await client.post(
        "/api/listings/companies/",
        json={
            "name": name,
            "org_number": org_number(),
            "admin": {"name": name, "email": email, "password": PASSWORD, "language": language},
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["admin"]["language"] == language
    body["email"] = email
    body["headers"] = bearer(body["api_key"])
    return body


def steam(kind: str) -> dict[str, Any]:
    # high-pressure steam is this module's own resource: test_trades_that_hold trades steam
    # of 6 bar, which this need refuses, and its needs take 10 bar at most, which this offer
    # exceeds (tests sharing a stack must not match each other's listings)
    temperature = {"value": 230} if kind == "offer" else {"min": 220}
    pressure = {"value": 25} if kind == "offer" else {"min": 20}
    return {
        "kind": kind,
        "resource_class": "steam",
        "title": "Steam, 25 bar",
        "quantity": "50",
        "unit": "MWh",
        "quality": [
            {"property": "temperature_c", "unit": "°C", **temperature},
            {"property": "pressure_bar", "unit": "bar", **pressure},
        ],
    }


async def known(client: httpx.AsyncClient, who: dict[str, Any]) -> bool:
    mine = await client.get("/api/notifications/preferences/me", headers=who["token"])
    return bool(mine.json()["address"] == who["email"])


async def test_each_admin_is_mailed_in_their_language_and_as_they_prefer(
    client: httpx.AsyncClient, mail_drop: tuple[MailDrop, int]
) -> None:
    drop, _ = mail_drop
    supplier = await register(client, "Damp Produsent AS", "nb")
    receiver = await register(client, "Steam Buyer AS", "en")
    for who in (supplier, receiver):  # e-mails start once the directory knows the person
        who["token"] = bearer(await sign_in(client, who["email"]))
        await eventually(lambda w=who: known(client, w))
    for who, kind in ((supplier, "offer"), (receiver, "need")):
        posted = await client.post(
            "/api/listings/listings/", json=steam(kind), headers=who["headers"]
        )
        assert posted.status_code == 201, posted.text

    async def mailed(address: str, count: int) -> list[Any] | None:
        found = drop.to(address)
        return found if len(found) >= count else None

    [norwegian] = await eventually(lambda: mailed(supplier["email"], 1))
    [english] = await eventually(lambda: mailed(receiver["email"], 1))
    assert norwegian["Subject"] == "En kjøper til tilbudet ditt: Steam, 25 bar"
    assert english["Subject"] == "A supplier for your need: Steam, 25 bar"
    assert "/negotiations/" in english.get_payload(decode=True).decode()

    # the receiver's admin switches to Norwegian and turns off e-mails of withdrawn proposals
    token = receiver["token"]
    changed = await client.patch("/api/listings/people/me", json={"language": "nb"}, headers=token)
    assert changed.status_code == 200 and changed.json()["language"] == "nb"
    assert (
        await client.patch("/api/listings/people/me", json={"language": "de"}, headers=token)
    ).status_code == 400
    assert (
        await client.patch(
            "/api/listings/people/me", json={"language": "en"}, headers=receiver["headers"]
        )
    ).status_code == 403  # an API key has no language
    prefs = await client.put(
        "/api/notifications/preferences/me",
        json={"email": {"trade.retracted": False}},
        headers=token,
    )
    assert prefs.status_code == 200, prefs.text
    assert prefs.json()["email"]["trade.retracted"] is False
    assert prefs.json()["email"]["negotiation.countered"] is True
    bad = await client.put(
        "/api/notifications/preferences/me", json={"email": {"nonsense": True}}, headers=token
    )
    assert bad.status_code == 400

    async def in_norwegian() -> bool:
        mine = await client.get("/api/notifications/preferences/me", headers=token)
        return bool(mine.json()["language"] == "nb")

    await eventually(in_norwegian)  # the directory has the new language

    async def negotiation() -> dict[str, Any] | None:
        rows = (
            await client.get("/api/contracts/negotiations/", headers=supplier["headers"])
        ).json()
        return rows[0] if rows else None

    nid = (await eventually(negotiation))["id"]
    counter = {"quantity": "20", "unit": "MWh", "price_per_unit_ore": 30000}
    response = await client.post(
        f"/api/contracts/negotiations/{nid}/counter", json=counter, headers=supplier["headers"]
    )
    assert response.status_code == 200
    [_, now_norwegian] = await eventually(lambda: mailed(receiver["email"], 2))
    assert now_norwegian["Subject"] == "Motbud: Steam, 25 bar"
    # withdrawing the offer retracts the proposal: the supplier is mailed, the receiver not
    offers = (
        await client.get("/api/listings/listings/?mine=true", headers=supplier["headers"])
    ).json()
    offer_id = next(o["id"] for o in offers["items"] if o["title"] == "Steam, 25 bar")
    await client.post(f"/api/listings/listings/{offer_id}/withdraw", headers=supplier["headers"])
    await eventually(lambda: mailed(supplier["email"], 2))
    time.sleep(2)
    assert len(drop.to(receiver["email"])) == 2
