"""The matcher proposes a listing's best counterparts first, at most the configured number,
and a change retracts what no longer fits or no longer makes the cut, saying which."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import services.matching as matching_package
from services.matching.config import MatchingSettings
from services.matching.domain import OpenListing
from services.matching.handlers import match_listing
from shared.db import Pool, create_pool
from shared.events import Envelope, ListingWithdrawn
from shared.migrations import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "matching")
    async with pool.acquire() as conn:
        await migrate(conn, "matching", Path(matching_package.__file__).parent / "migrations")
    yield pool
    await pool.close()


def sawdust(kind: str, title: str, price_nok: int, moisture: int | None = None) -> OpenListing:
    quality = ()
    if moisture is not None:
        quality = ({"property": "moisture", "unit": "%", "value": moisture},)
    return OpenListing(
        listing_id=uuid.uuid4(),
        company_id=uuid.uuid4(),
        kind=kind,
        ewc_code="030105",
        resource_class=None,
        title=title,
        quantity=Decimal(10),
        unit="t",
        quality=quality,
        price_per_unit_ore=price_nok * 100,
    )


CAUSE = Envelope.wrap(
    ListingWithdrawn(
        listing_id=uuid.uuid4(), company_id=uuid.uuid4(), withdrawn_at=datetime.now(UTC)
    ),
    source="/tests",
    subject=uuid.uuid4(),
)


async def events(pool: Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    found = []
    for row in rows:
        event = Envelope.model_validate_json(bytes(row["payload"]))
        title = event.data.get("title", "")
        found.append((event.type, event.data.get("reason") or title))
    return found


async def test_the_best_counterparts_are_proposed_first_and_a_change_recuts_them(
    pool: Pool,
) -> None:
    settings = MatchingSettings(max_proposals_per_listing=2)
    offers = [
        sawdust("offer", name, price, 50 if name == "A" else 20)
        for name, price in (("A", 0), ("B", 100), ("C", 200), ("D", 300))
    ]
    need = sawdust("need", "boiler", 500)
    async with pool.acquire() as conn:
        for offer in offers:
            async with conn.transaction():
                await match_listing(
                    conn, offer, MatchingSettings(max_proposals_per_listing=1), CAUSE
                )
    await pool.execute("DELETE FROM proposals")
    await pool.execute("DELETE FROM outbox")
    async with pool.acquire() as conn, conn.transaction():
        best = await match_listing(conn, need, settings, CAUSE)
    assert [p.offer.title for p in best] == ["A", "B"]  # most money to share first
    assert await events(pool) == [("trade.proposed", "A"), ("trade.proposed", "B")]

    # A is too wet for the changed need: C takes its place; A is retracted as unfit
    drier = replace(need, quality=({"property": "moisture", "unit": "%", "max": 30},))
    await pool.execute("DELETE FROM outbox")
    async with pool.acquire() as conn, conn.transaction():
        best = await match_listing(conn, drier, settings, CAUSE, changed=["quality"])
    assert [p.offer.title for p in best] == ["B", "C"]
    assert await events(pool) == [
        ("trade.proposed", "C"),
        ("trade.retracted", "after a change to quality of 'boiler', the trade no longer fits"),
    ]

    # with room for one, C still fits but is retracted as outranked
    await pool.execute("DELETE FROM outbox")
    async with pool.acquire() as conn, conn.transaction():
        best = await match_listing(
            conn, drier, MatchingSettings(max_proposals_per_listing=1), CAUSE, changed=["quantity"]
        )
    assert [p.offer.title for p in best] == ["B"]
    assert await events(pool) == [
        (
            "trade.retracted",
            "after a change to quantity of 'boiler', better counterparts rank above this one",
        )
    ]


def feed(kind: str, code: str | None, tonnes: int, latitude: float) -> OpenListing:
    return OpenListing(
        listing_id=uuid.uuid4(),
        company_id=uuid.uuid4(),
        kind=kind,
        ewc_code=code,
        resource_class=None,
        title=code or "feed need",
        quantity=Decimal(tonnes),
        unit="t",
        latitude=latitude,
        longitude=16.0,
        use=None if code else "animal_feed",
    )


async def test_a_trade_whose_co2e_is_not_estimated_is_not_ranked_as_saving_nothing(
    pool: Pool,
) -> None:
    """Through the index: 5,000 t of whey (only its disposal route has a factor), nearer,
    and 150,000 t of distillers' grains (no factor) for one feed need with room for one
    proposal: the grains are proposed, as they move thirty times as much; the proposal
    still says its CO2e is not estimated."""
    await pool.execute("DELETE FROM open_listings")
    await pool.execute("DELETE FROM proposals")
    whey = feed("offer", "020501", 5_000, 58.51)
    grains = feed("offer", "020702", 150_000, 58.6)
    need = feed("need", None, 150_000, 58.5)
    async with pool.acquire() as conn:
        for offer in (whey, grains):
            async with conn.transaction():
                await match_listing(
                    conn, offer, MatchingSettings(max_proposals_per_listing=1), CAUSE
                )
    await pool.execute("DELETE FROM proposals")
    async with pool.acquire() as conn, conn.transaction():
        best = await match_listing(conn, need, MatchingSettings(max_proposals_per_listing=1), CAUSE)
    assert [p.offer.title for p in best] == ["020702"]
    assert best[0].value.co2e_avoided_kg is None
