"""Issue 3's story, end to end, as people would do it with the API alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from shared.events import ContractAgreed, Envelope, Topic
from tests.e2e.test_accounts import PASSWORD, bearer, register_with_admin, sign_in, unique_email
from tests.e2e.test_listings import HEAT_OFFER, WOOD_NEED, search
from tests.support import Infra, Stack, eventually, produce

pytestmark = pytest.mark.e2e


async def test_register_invite_post_find_and_reserve(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    # A data centre registers with its first admin, who invites a colleague.
    datacentre = await register_with_admin(client, name="Tofteberg Datasenter AS")
    admin = bearer(await sign_in(client, datacentre["email"]))
    colleague_email = unique_email("drift")
    invitation = (
        await client.post(
            "/api/listings/people/", headers=admin, json={"email": colleague_email, "name": "Drift"}
        )
    ).json()
    await client.post(
        "/api/listings/people/accept-invitation",
        json={"token": invitation["invitation_token"], "password": PASSWORD},
    )
    colleague = bearer(await sign_in(client, colleague_email))

    # The colleague posts a continuous offer of surplus heat at 40 °C.
    heat = (await client.post("/api/listings/listings/", headers=colleague, json=HEAT_OFFER)).json()
    assert (heat["frequency"], heat["quality"][0]["value"]) == ("monthly", 40)

    # A bioenergy plant posts a one-off need for wood chips with a moisture limit,
    # and a greenhouse a need for heat.
    plant = await register_with_admin(client, name="Fredrikstad Bioenergi AS")
    plant_admin = bearer(await sign_in(client, plant["email"]))
    wood = (
        await client.post("/api/listings/listings/", headers=plant_admin, json=WOOD_NEED)
    ).json()
    assert (wood["frequency"], wood["quality"][0]["max"]) == ("once", 45)
    greenhouse = await register_with_admin(client, name="Viken Veksthus AS")
    grower = bearer(await sign_in(client, greenhouse["email"]))
    heat_need = (
        await client.post(
            "/api/listings/listings/",
            headers=grower,
            json={
                **HEAT_OFFER,
                "kind": "need",
                "quantity": "100",
                "quality": [{"property": "temperature_c", "unit": "°C", "min": 35}],
            },
        )
    ).json()

    # They find each other's public listings by search.
    as_plant = {"headers": plant_admin}
    as_datacentre = {"headers": colleague}
    assert heat["id"] in await search(client, as_plant, resource_class="heat", kind="offer")
    assert wood["id"] in await search(client, as_datacentre, q="wood chips", kind="need")

    # A contract between the data centre and the greenhouse reserves 100 MWh of the heat.
    contract_id = uuid.uuid4()
    agreed = ContractAgreed(
        contract_id=contract_id,
        offer_id=uuid.UUID(heat["id"]),
        need_id=uuid.UUID(heat_need["id"]),
        supplier_company_id=uuid.UUID(datacentre["company"]["id"]),
        receiver_company_id=uuid.UUID(greenhouse["company"]["id"]),
        quantity=Decimal(100),
        unit="MWh",
        agreed_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(agreed, source="/services/contracts", subject=contract_id)
    await produce(
        infra,
        stack.namespace + Topic.CONTRACTS,
        envelope.to_bytes(),
        envelope.subject.encode(),
    )

    async def reserved() -> bool:
        body = (await client.get(f"/api/listings/listings/{heat['id']}", headers=colleague)).json()
        return bool(body["remaining_quantity"] == "250")

    await eventually(reserved)
    need_now = (
        await client.get(f"/api/listings/listings/{heat_need['id']}", headers=grower)
    ).json()
    # the greenhouse's need is a monthly stream: this month is covered, the next months
    # are still open (a stream reserves per period)
    assert (need_now["remaining_quantity"], need_now["status"]) == ("0", "open")
