"""Offers and needs as practitioners describe them, through their whole life."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from hashlib import sha256
from typing import Any

import httpx
import pytest

from shared.events import ContractAgreed, Envelope, Topic
from tests.security.probes import bearer, park_admin_token
from tests.support import Infra, Stack, eventually, produce, read_topic, register_company

pytestmark = pytest.mark.e2e

HEAT_OFFER = {
    "kind": "offer",
    "resource_class": "heat",
    "title": "Waste heat from the data hall",
    "description": "Return water from the cooling loop",
    "quantity": "350",
    "unit": "MWh",
    "frequency": "monthly",
    "available_from": "2027-01-01",
    "quality": [{"property": "temperature_c", "unit": "°C", "value": 40}],
    "location": {"plot": "A1", "latitude": 59.2480, "longitude": 11.0300},
    "transport": "receiver",
    "price_per_unit_ore": 5000,
}
WOOD_NEED = {
    "kind": "need",
    "ewc_code": "03 01 05",
    "title": "Wood chips for the biomass boiler",
    "quantity": "400",
    "unit": "t",
    "available_from": "2027-01-15",
    "available_until": "2027-03-31",
    "quality": [{"property": "moisture", "unit": "%", "max": 45}],
    "location": {"plot": "B2", "latitude": 59.2500, "longitude": 11.0400},
    "price_per_unit_ore": -15000,
    "internal_note": "budget approved by the plant manager",
}


async def post(
    client: httpx.AsyncClient, company: dict[str, Any], body: dict[str, Any], expect: int = 201
) -> dict[str, Any]:
    response = await client.post("/api/listings/listings/", json=body, headers=company["headers"])
    assert response.status_code == expect, response.text
    return dict(response.json())


async def search(client: httpx.AsyncClient, company: dict[str, Any], **params: Any) -> list[str]:
    response = await client.get(
        "/api/listings/listings/", params=params, headers=company["headers"]
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_heat_offer_and_wood_need_are_described_and_found(client: httpx.AsyncClient) -> None:
    datacentre = await register_company(client, "Data Centre AS")
    boiler = await register_company(client, "Boiler AS")
    heat = await post(client, datacentre, HEAT_OFFER)
    wood = await post(client, boiler, WOOD_NEED)
    assert heat["resource_label"].startswith("Heat") and heat["frequency"] == "monthly"
    assert heat["quality"][0]["value"] == 40 and heat["location"]["plot"] == "A1"
    assert wood["ewc_code"] == "030105" and wood["gate_fee"] is True
    assert wood["internal_note"] == "budget approved by the plant manager"

    # each finds the other's listing; the private note stays private
    seen = (
        await client.get(f"/api/listings/listings/{wood['id']}", headers=datacentre["headers"])
    ).json()
    assert seen["internal_note"] is None and seen["title"] == WOOD_NEED["title"]
    assert heat["id"] in await search(client, boiler, resource_class="heat")
    assert wood["id"] in await search(client, datacentre, chapter="03", kind="need")
    assert wood["id"] in await search(client, datacentre, q="biomass chips")
    assert wood["id"] not in await search(client, datacentre, q="sawdust pellets")
    found = await search(
        client,
        datacentre,
        min_quantity="399000",
        max_quantity="401000",
        unit="kg",
        company_id=boiler["company"]["id"],
    )
    assert found == [wood["id"]]
    near = await search(
        client,
        boiler,
        lat=59.2485,
        lon=11.0305,
        within_km=1,
        company_id=datacentre["company"]["id"],
    )
    assert near == [heat["id"]]
    assert (
        await search(
            client, boiler, lat=60.0, lon=11.0, within_km=5, company_id=datacentre["company"]["id"]
        )
        == []
    )


async def test_cursor_pages_cover_everything_once(client: httpx.AsyncClient) -> None:
    company = await register_company(client, "Many Listings AS")
    made = [
        (await post(client, company, {**WOOD_NEED, "quantity": str(10 + i)}))["id"]
        for i in range(5)
    ]
    for sort in ("newest", "oldest", "quantity_asc", "quantity_desc"):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"mine": "true", "limit": 2, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = (
                await client.get(
                    "/api/listings/listings/", params=params, headers=company["headers"]
                )
            ).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(made) and len(seen) == 5, sort
        if sort == "quantity_asc":
            assert seen == made
    bad = await client.get(
        "/api/listings/listings/", params={"cursor": "garbage"}, headers=company["headers"]
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "cursor"


async def test_a_draft_is_private_until_published(client: httpx.AsyncClient) -> None:
    owner = await register_company(client, "Drafting AS")
    other = await register_company(client, "Peeking AS")
    draft = await post(client, owner, {**HEAT_OFFER, "publish": False})
    assert draft["status"] == "draft" and draft["published_at"] is None
    assert (
        await client.get(f"/api/listings/listings/{draft['id']}", headers=other["headers"])
    ).status_code == 404
    assert draft["id"] not in await search(client, other, resource_class="heat")
    published = await client.post(
        f"/api/listings/listings/{draft['id']}/publish", headers=owner["headers"]
    )
    assert published.status_code == 200 and published.json()["status"] == "open"
    assert draft["id"] in await search(client, other, resource_class="heat")
    again = await client.post(
        f"/api/listings/listings/{draft['id']}/publish", headers=owner["headers"]
    )
    assert again.status_code == 409


async def test_update_and_withdraw_only_your_own(client: httpx.AsyncClient) -> None:
    owner = await register_company(client, "Owner AS")
    other = await register_company(client, "Meddler AS")
    listing = await post(client, owner, WOOD_NEED)
    path = f"/api/listings/listings/{listing['id']}"
    for method, suffix in (("PATCH", ""), ("POST", "/withdraw"), ("POST", "/publish")):
        response = await client.request(
            method,
            path + suffix,
            headers=other["headers"],
            json={"quantity": "1"} if method == "PATCH" else None,
        )
        assert response.status_code == 404, (method, suffix)
    changed = await client.patch(
        path,
        headers=owner["headers"],
        json={
            "quantity": "250",
            "price_per_unit_ore": -12000,
            "quality": [{"property": "moisture", "unit": "%", "max": 40}],
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["quantity"], body["remaining_quantity"]) == ("250", "250")
    assert body["quality"][0]["max"] == 40
    bad = await client.patch(path, headers=owner["headers"], json={"available_until": "2026-01-01"})
    assert bad.status_code == 400 and "ends before it starts" in bad.text
    withdrawn = await client.post(path + "/withdraw", headers=owner["headers"])
    assert withdrawn.json()["status"] == "withdrawn"
    assert (await client.get(path, headers=other["headers"])).status_code == 404
    assert (
        await client.patch(path, headers=owner["headers"], json={"quantity": "5"})
    ).status_code == 409


async def test_a_listings_location_changes_later_and_is_told_to_the_park(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    owner = await register_company(client, "Mover AS")
    listing = await post(client, owner, HEAT_OFFER)
    path = f"/api/listings/listings/{listing['id']}"
    here = {"lat": 59.2531, "lon": 11.0412, "within_km": 0.2}
    assert listing["id"] not in await search(client, owner, **here)
    for bad, field in (
        ({"location": {"latitude": 95, "longitude": 11.03}}, "latitude"),
        ({"location": {"latitude": 59.25}}, "longitude"),
        ({"location": None}, "location"),
    ):
        refused = await client.patch(path, headers=owner["headers"], json=bad)
        assert refused.status_code == 400, refused.text
        assert field in refused.text and refused.headers["content-type"].startswith(
            "application/problem+json"
        )
    unchanged = (await client.get(path, headers=owner["headers"])).json()
    assert unchanged["location"] == HEAT_OFFER["location"]

    moved = await client.patch(
        path,
        headers=owner["headers"],
        json={"location": {"plot": "A4", "latitude": 59.2531, "longitude": 11.0412}},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["location"] == {"plot": "A4", "latitude": 59.2531, "longitude": 11.0412}
    assert listing["id"] in await search(client, owner, **here)

    async def told() -> bool:
        for record in await read_topic(infra, stack.namespace + Topic.LISTINGS):
            try:
                event = Envelope.model_validate_json(record.value)
            except ValueError:  # other tests' poison messages
                continue
            if event.type == "listing.updated" and event.subject == listing["id"]:
                data = event.data
                return bool(data["changed"] == ["location"] and data["latitude"] == 59.2531)
        return False

    await eventually(told)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**HEAT_OFFER, "quality": []}, "must state temperature_c"),
        ({**HEAT_OFFER, "unit": "t"}, "heat is measured in MWh, kWh"),
        ({**HEAT_OFFER, "ewc_code": "030105"}, "either ewc_code"),
        ({**HEAT_OFFER, "resource_class": "plutonium"}, "unknown resource_class"),
        (
            {**WOOD_NEED, "quality": [{"property": "moisture", "unit": "%", "min": 50, "max": 40}]},
            "min is above max",
        ),
        ({**WOOD_NEED, "quality": [{"property": "moisture", "unit": "%"}]}, "give a value"),
        ({**WOOD_NEED, "hazardous": True}, "not hazardous"),
        # quality properties are those the exchange knows for the resource, in their units
        (
            {**WOOD_NEED, "quality": [{"property": "moisture_typed", "unit": "%", "max": 40}]},
            '"code":"listing.quality_unknown"',
        ),
        (
            {
                **HEAT_OFFER,
                "quality": [
                    {"property": "temperature_c", "unit": "°C", "value": 40},
                    {"property": "moisture", "unit": "%", "max": 45},
                ],
            },
            '"field":"quality.1.property"',
        ),
        (
            {**WOOD_NEED, "quality": [{"property": "moisture", "unit": "°C", "max": 40}]},
            '"code":"listing.quality_unit"',
        ),
    ],
)
async def test_listings_that_make_no_sense_are_refused(
    client: httpx.AsyncClient, body: dict[str, Any], words: str
) -> None:
    company = await register_company(client, "Sloppy AS")
    response = await client.post("/api/listings/listings/", json=body, headers=company["headers"])
    assert response.status_code == 400, response.text
    assert words in response.text
    assert await search(client, company, mine="true") == []


async def test_hazardous_waste_needs_the_flag_and_a_receivers_permit(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    supplier = await register_company(client, "Battery Supplier AS")
    receiver = await register_company(client, "Battery Recycler AS")
    batteries = {
        "ewc_code": "16 06 01",
        "title": "Spent lead batteries",
        "quantity": "2",
        "unit": "t",
    }
    await post(client, supplier, {"kind": "offer", **batteries}, expect=400)
    offer = await post(client, supplier, {"kind": "offer", **batteries, "hazardous": True})
    assert offer["hazardous"] is True
    refused = await client.post(
        "/api/listings/listings/",
        headers=receiver["headers"],
        json={"kind": "need", **batteries, "hazardous": True},
    )
    assert refused.status_code == 400 and "no permit" in refused.text
    permit = {
        "number": "2020.0042.T",
        "authority": "Statsforvalteren i Østfold, Buskerud, Oslo og Akershus",
        "valid_until": "2035-12-31",
        "waste_codes": ["16 06 01"],
    }
    stated = await client.put(
        "/api/listings/companies/me/permit", headers=receiver["headers"], json=permit
    )
    assert stated.status_code == 200, stated.text
    verified = await client.post(
        f"/api/listings/companies/{receiver['company']['id']}/permit/verify",
        headers=bearer(park_admin_token(stack)),
        json={"number": permit["number"]},
    )
    assert verified.status_code == 200, verified.text
    await post(client, receiver, {"kind": "need", **batteries, "hazardous": True})


async def test_an_agreed_contract_reserves_quantity_once_and_never_too_much(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    supplier = await register_company(client, "Heat Supplier AS")
    receiver = await register_company(client, "Greenhouse AS")
    offer = await post(client, supplier, HEAT_OFFER)  # 350 MWh a month
    need = await post(
        client,
        receiver,
        {
            **HEAT_OFFER,
            "kind": "need",
            "quantity": "500",
            "quality": [{"property": "temperature_c", "unit": "°C", "min": 35}],
        },
    )
    topic = stack.namespace + Topic.CONTRACTS

    def agreed(quantity: str, unit: str = "MWh") -> Envelope:
        contract_id = uuid.uuid4()
        payload = ContractAgreed(
            contract_id=contract_id,
            offer_id=uuid.UUID(offer["id"]),
            need_id=uuid.UUID(need["id"]),
            supplier_company_id=uuid.UUID(supplier["company"]["id"]),
            receiver_company_id=uuid.UUID(receiver["company"]["id"]),
            quantity=Decimal(quantity),
            unit=unit,
            agreed_at=datetime.now(UTC),  # type: ignore[arg-type]
        )
        return Envelope.wrap(payload, source="/tests", subject=contract_id)

    async def remaining() -> tuple[str, str]:
        body = (
            await client.get(f"/api/listings/listings/{offer['id']}", headers=supplier["headers"])
        ).json()
        return body["remaining_quantity"], body["status"]

    first = agreed("200000", "kWh")  # 200 MWh, in another unit of the same dimension
    await produce(infra, topic, first.to_bytes(), first.subject.encode())
    await produce(infra, topic, first.to_bytes(), first.subject.encode())

    async def reserved_once() -> bool:
        return await remaining() == ("150", "open")

    await eventually(reserved_once)
    too_much = agreed("151")
    await produce(infra, topic, too_much.to_bytes(), too_much.subject.encode())
    listings_topic = stack.namespace + Topic.LISTINGS

    async def listing_events() -> list[Envelope]:
        events = []
        for record in await read_topic(infra, listings_topic):
            with contextlib.suppress(ValueError):  # other tests' poison messages
                events.append(Envelope.model_validate_json(record.value))
        return events

    async def refusals() -> list[Envelope]:
        return [
            e
            for e in await listing_events()
            if e.type == "listing.reservation_refused"
            and e.data["contract_id"] == str(too_much.subject)
        ]

    refused = await eventually(refusals)
    assert [e.subject for e in refused] == [offer["id"]]  # the need had enough left
    assert "only 150 remain" in refused[0].data["reason"]
    # the same reason as a code with its numbers, for the contract to say in any language
    detail = refused[0].data["reason_detail"]
    assert detail["code"] in ("listing.too_little", "listing.too_little_in_period")
    assert detail["params"]["free"] == "150"
    assert await remaining() == ("150", "open")  # nothing reserved by the refused contract

    rest = agreed("150")
    await produce(infra, topic, rest.to_bytes(), rest.subject.encode())

    async def fully_reserved() -> bool:
        # a monthly stream: its first month is fully reserved; it stays open for the months
        # after (a stream reserves per period)
        return await remaining() == ("0", "open")

    await eventually(fully_reserved)
    reserved = [
        e
        for e in await listing_events()
        if e.type == "listing.reserved" and e.subject == offer["id"]
    ]
    assert sorted(Decimal(e.data["quantity"]) for e in reserved) == [Decimal(150), Decimal(200)]
    need_now = (
        await client.get(f"/api/listings/listings/{need['id']}", headers=receiver["headers"])
    ).json()
    assert need_now["remaining_quantity"] == "150" and need_now["status"] == "open"
    # still open to the park, for the months that have room
    assert offer["id"] in await search(client, receiver, resource_class="heat")


async def test_a_retried_post_with_an_idempotency_key_creates_nothing_new(
    client: httpx.AsyncClient,
) -> None:
    company = await register_company(client, "Retrying AS")
    headers = {**company["headers"], "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/api/listings/listings/", json=WOOD_NEED, headers=headers)
    second = await client.post("/api/listings/listings/", json=WOOD_NEED, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert await search(client, company, mine="true") == [first.json()["id"]]
    other_body = await client.post(
        "/api/listings/listings/", headers=headers, json={**WOOD_NEED, "quantity": "1"}
    )
    assert other_body.status_code == 422
    # a refused request is answered the same way again, and still creates nothing
    bad_headers = {**company["headers"], "Idempotency-Key": "bad-1"}
    for _ in range(2):
        response = await client.post(
            "/api/listings/listings/", headers=bad_headers, json={**WOOD_NEED, "ewc_code": "999999"}
        )
        assert response.status_code == 400
    # registration, which needs no credentials, is idempotent too
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Once Only AS", "org_number": "921300026"}
    registered = [
        await client.post("/api/listings/companies/", json=body, headers=key) for _ in range(2)
    ]
    assert [r.status_code for r in registered] == [201, 201]
    assert registered[0].json()["company"] == registered[1].json()["company"]
    # the key is a secret shown once: the exchange keeps only its hash, which the replay gives
    first_key = registered[0].json()["api_key"]
    assert registered[1].json()["api_key"] == "sha256:" + sha256(first_key.encode()).hexdigest()
