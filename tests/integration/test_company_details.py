"""Companies registered before ``company.details_changed`` existed are told to the other services
once, by a background job, with the details invoices need."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import services.listings as listings_package
from services.listings import storage
from services.listings.accounts import announce_unannounced
from shared.db import Pool, create_pool
from shared.events import CompanyDetailsChanged, Envelope
from shared.migrations import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "listings")
    async with pool.acquire() as conn:
        await migrate(conn, "listings", Path(listings_package.__file__).parent / "migrations")
    yield pool
    await pool.close()


async def test_companies_never_announced_are_announced_once(pool: Pool) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    async with pool.acquire() as conn:
        for company_id, org in zip(ids, ("921277474", "921300018"), strict=True):
            await storage.insert_company(
                conn,
                company_id,
                org,
                {
                    "name": f"Old {org} AS",
                    "address": {"street": "Tofteberg 1", "postcode": "1617", "city": "Fredrikstad"},
                    "bank_account": "86011117947",
                },
            )
    assert await announce_unannounced(pool) == 2
    assert await announce_unannounced(pool) == 0
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    told = [Envelope.model_validate_json(bytes(r["payload"])) for r in rows]
    payloads = [e.payload() for e in told]
    assert all(isinstance(p, CompanyDetailsChanged) for p in payloads)
    assert {p.company_id for p in payloads if isinstance(p, CompanyDetailsChanged)} == set(ids)
    first = payloads[0]
    assert isinstance(first, CompanyDetailsChanged)
    assert first.vat_registered and first.bank_account == "86011117947"
    assert first.address is not None and first.address.city == "Fredrikstad"
