"""A suspended company's listings on a real PostgreSQL: others' search and reads no longer
find them (its own people still do), and a contract agreed on one while it is suspended
reserves the quantity but tells the matcher nothing (``listing.updated`` would index it
again); a company in good standing's listing is told as before."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.listings import storage
from services.listings.handlers import reserve_for
from shared.db import Connection, Pool
from shared.events import ContractAgreed, Envelope
from tests.support import migrated_pool, org_number


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "listings") as pool:
        yield pool


async def company(conn: Connection, name: str) -> uuid.UUID:
    company_id = uuid.uuid4()
    await storage.insert_company(conn, company_id, org_number(), {"name": name})
    return company_id


async def listing(conn: Connection, company_id: uuid.UUID, kind: str) -> uuid.UUID:
    listing_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "id": listing_id,
        "company_id": company_id,
        "kind": kind,
        "ewc_code": "030105",
        "hazardous": False,
        "title": f"Sawdust {kind}",
        "description": "",
        "quantity": Decimal("100"),
        "remaining_quantity": Decimal("100"),
        "unit": "t",
        "dimension": "mass",
        "quantity_base": Decimal("100000"),
        "frequency": "once",
        "available_from": date.today(),
        "quality": [],
        "transport": "either",
        "status": "open",
        "published_at": datetime.now(UTC),
    }
    await storage.insert_listing(conn, fields)
    return listing_id


async def told(conn: Connection, listing_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT payload FROM outbox WHERE key = $1 ORDER BY id", str(listing_id)
    )
    return [json.loads(r["payload"])["type"] for r in rows]


async def test_a_suspended_companys_listings_are_hidden_and_not_sent_to_the_matcher(
    pool: Pool,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        suspended = await company(conn, "Suspended Sawmill AS")
        good = await company(conn, "Good Boiler AS")
        offer = await listing(conn, suspended, "offer")
        need = await listing(conn, good, "need")
        await storage.set_company_status(conn, suspended, "suspended", "Unpaid", uuid.uuid4())

        assert await storage.get_visible_listing(conn, offer, good) is None
        assert await storage.get_visible_listing(conn, offer, None) is None
        assert await storage.get_visible_listing(conn, offer, suspended) is not None
        assert await storage.get_visible_listing(conn, need, suspended) is not None
        for viewer, expected in ((good, {need}), (suspended, {offer, need}), (None, {need})):
            found = await storage.search_listings(
                conn, storage.ListingQuery(viewer=viewer, ewc_code="030105", limit=100)
            )
            assert {r.id for r in found} & {offer, need} == expected, viewer

        agreed = ContractAgreed(
            contract_id=uuid.uuid4(),
            offer_id=offer,
            need_id=need,
            supplier_company_id=suspended,
            receiver_company_id=good,
            quantity=Decimal("40"),
            unit="t",
            agreed_at=datetime.now(UTC),
        )
        envelope = Envelope.wrap(agreed, source="/services/contracts", subject=agreed.contract_id)
        await reserve_for(conn, envelope, agreed)

        reserved = await storage.listing_for_update(conn, offer)
        assert reserved is not None and reserved.remaining_quantity == Decimal("60")
        assert await told(conn, offer) == ["listing.reserved"]
        assert await told(conn, need) == ["listing.reserved", "listing.updated"]
