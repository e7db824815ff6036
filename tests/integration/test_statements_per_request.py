"""The statements a listing's POST sends, on a real PostgreSQL and the listings service's
own controllers (issue 19: the pipeline's cost is per statement): the company is read once,
locked, and the event says whether it shares its terms from that same row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from services.listings.accounts import CompanyController
from services.listings.api import ListingController
from services.listings.config import ListingsSettings
from shared import db
from shared.auth import ensure_signing_keys, load_private_key
from shared.settings import Settings
from tests.support import migrated_pool, org_number, service_client

pytestmark = pytest.mark.integration


@pytest.fixture
async def logged(
    database_url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], list[str]]]:
    """The listings controllers, and every statement their pool's connections send."""
    sent: list[str] = []
    plain_init = db.init_connection

    async def init(conn: Any) -> None:
        await plain_init(conn)
        conn.add_query_logger(lambda record: sent.append(" ".join(record.query.split())))

    monkeypatch.setattr(db, "init_connection", init)
    async with migrated_pool(database_url, "listings"):
        keys = ListingsSettings(data_dir=tmp_path)
        ensure_signing_keys(keys)
        signing_key = load_private_key(keys.private_key_path)

        class Companies(CompanyController):
            dependencies = {"signing_key": Provide(lambda: signing_key, sync_to_thread=False)}

        own = ListingsSettings(**settings.model_dump())
        async with service_client([Companies, ListingController], own, keys) as client:
            yield client, sent


async def test_a_listing_reads_its_company_once(
    logged: tuple[AsyncTestClient[Litestar], list[str]],
) -> None:
    client, sent = logged
    registered = await client.post(
        "/companies/",
        json={"name": f"Setning {uuid.uuid4().hex[:6]} AS", "org_number": org_number()},
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['api_key']}"}
    sent.clear()
    posted = await client.post(
        "/listings/",
        json={
            "kind": "offer",
            "ewc_code": "030105",
            "title": "Sagflis",
            "quantity": "10",
            "unit": "t",
        },
        headers=headers,
    )
    assert posted.status_code == 201, posted.text
    companies = [s for s in sent if "FROM companies" in s]
    assert len(companies) == 1, companies
    assert companies[0].endswith("FOR SHARE")
    outbox = [s for s in sent if "INSERT INTO outbox" in s]
    assert len(outbox) == 1, sent
