"""A company is told once that an open listing's window ends soon, and again only if it
moves the end date; listings ending later, without an end, or not open are left alone."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

import services.listings as listings_package
from services.listings import storage
from services.listings.config import ListingsSettings
from services.listings.expiry import announce_expiring
from shared.db import Pool, create_pool
from shared.events import Envelope, ListingExpiring
from shared.migrations import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "listings")
    async with pool.acquire() as conn:
        await migrate(conn, "listings", Path(listings_package.__file__).parent / "migrations")
    yield pool
    await pool.close()


async def company(pool: Pool) -> uuid.UUID:
    company_id = uuid.uuid4()
    org_number = "".join(random.choices("0123456789", k=9))
    async with pool.acquire() as conn:
        await storage.insert_company(conn, company_id, org_number, {"name": "Sagbruk AS"})
    return company_id


async def listing(
    pool: Pool, company_id: uuid.UUID, until: date | None, status: str = "open"
) -> uuid.UUID:
    async with pool.acquire() as conn:
        row = await storage.insert_listing(
            conn,
            {
                "id": uuid.uuid4(),
                "company_id": company_id,
                "kind": "offer",
                "ewc_code": "030105",
                "hazardous": False,
                "title": f"Sawdust until {until}",
                "quantity": 10,
                "remaining_quantity": 10,
                "unit": "t",
                "dimension": "mass",
                "quantity_base": 10000,
                "available_from": date.today() - timedelta(days=30),
                "available_until": until,
                "status": status,
            },
        )
    return row.id


async def announced(pool: Pool, ids: set[uuid.UUID]) -> list[ListingExpiring]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    events = [Envelope.model_validate_json(bytes(r["payload"])) for r in rows]
    return [
        ListingExpiring.model_validate(e.data)
        for e in events
        if e.type == ListingExpiring.event_type and uuid.UUID(e.subject) in ids
    ]


async def test_ending_listings_are_announced_once_per_end_date(pool: Pool) -> None:
    settings = ListingsSettings(listing_expiry_notice_days=7)
    owner = await company(pool)
    today = date.today()
    soon = await listing(pool, owner, today + timedelta(days=3))
    last_day = await listing(pool, owner, today)
    later = await listing(pool, owner, today + timedelta(days=30))
    endless = await listing(pool, owner, None)
    withdrawn = await listing(pool, owner, today + timedelta(days=2), status="withdrawn")
    ours = {soon, last_day, later, endless, withdrawn}

    await announce_expiring(pool, settings)
    first = await announced(pool, ours)
    assert {e.listing_id: e.days_left for e in first} == {soon: 3, last_day: 0}
    assert all(e.company_id == owner and e.kind == "offer" for e in first)

    await announce_expiring(pool, settings)  # nothing new: told once
    assert len(await announced(pool, ours)) == 2

    # The company moves the end date: it is told again, for the new date.
    async with pool.acquire() as conn:
        await storage.update_listing(conn, soon, {"available_until": today + timedelta(days=5)})
    await announce_expiring(pool, settings)
    again = await announced(pool, ours)
    assert len(again) == 3
    assert again[-1].listing_id == soon and again[-1].days_left == 5


async def test_a_suspended_companys_listings_are_not_announced_until_it_is_reinstated(
    pool: Pool,
) -> None:
    """Suspending a company withdraws its open listings from the exchange (reason
    ``company_suspended``): it is not told that they are about to expire while it cannot
    change them; reinstated, it is told about those still ending soon."""
    settings = ListingsSettings(listing_expiry_notice_days=7)
    owner = await company(pool)
    soon = await listing(pool, owner, date.today() + timedelta(days=2))
    async with pool.acquire() as conn:
        await storage.set_company_status(conn, owner, "suspended", "Ubetalt leie", uuid.uuid4())

    await announce_expiring(pool, settings)
    assert await announced(pool, {soon}) == []

    async with pool.acquire() as conn:
        await storage.set_company_status(conn, owner, "registered", None, uuid.uuid4())
    await announce_expiring(pool, settings)
    told = await announced(pool, {soon})
    assert [(e.listing_id, e.days_left) for e in told] == [(soon, 2)]
