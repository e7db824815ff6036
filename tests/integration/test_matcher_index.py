"""The indexed matcher (the key index read best bound first in PostgreSQL, then the rules)
proposes exactly what a brute-force scan over every open listing proposes, on random parks; and no
proposal breaks a constraint, checked here independently of the matcher's own rules."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import services.matching as matching_package
from services.matching import matcher, storage
from services.matching.domain import (
    OpenListing,
    best_proposals,
    distance_km,
    fitting,
    index_version,
    propose,
    rank_key,
)
from services.matching.matcher import shortlist
from shared.db import Pool, create_pool
from shared.migrations import migrate
from shared.units import convert

pytestmark = pytest.mark.integration

RESOURCES = [
    ("030105", None),
    ("030101", None),
    ("150103", None),
    ("190813", None),  # hazardous
    ("100105", None),  # flue-gas gypsum, of the class gypsum
    (None, "gypsum"),
    (None, "heat"),
]
USES = [None, None, "boiler_fuel", "plasterboard_raw_material"]
COMPANIES = [uuid.UUID(int=i + 1) for i in range(4)]
START = date(2027, 1, 1)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "matching")
    async with pool.acquire() as conn:
        await migrate(conn, "matching", Path(matching_package.__file__).parent / "migrations")
    yield pool
    await pool.close()


@st.composite
def listings(draw: st.DrawFn) -> OpenListing:
    code, resource_class = draw(st.sampled_from(RESOURCES))
    kind = draw(st.sampled_from(["offer", "need"]))
    use = draw(st.sampled_from(USES)) if kind == "need" and resource_class != "heat" else None
    if use is not None and draw(st.booleans()):
        code = resource_class = None  # a need that names only its use
    unit = "MWh" if resource_class == "heat" else draw(st.sampled_from(["t", "kg"]))
    prop = "temperature_c" if resource_class == "heat" else "moisture"
    quality: tuple[dict[str, Any], ...] = ()
    level = draw(st.integers(0, 90))
    if draw(st.booleans()):
        spec = (
            {"value": level} if kind == "offer" else {"max" if prop == "moisture" else "min": level}
        )
        quality = ({"property": prop, "unit": "%" if prop == "moisture" else "°C", **spec},)
    sited = draw(st.integers(0, 9)) > 0
    starts = draw(st.one_of(st.none(), st.integers(0, 300)))
    length = draw(st.one_of(st.none(), st.integers(0, 200)))
    return OpenListing(
        listing_id=uuid.UUID(int=draw(st.integers(1, 2**64))),
        company_id=draw(st.sampled_from(COMPANIES)),
        kind=kind,
        ewc_code=code,
        resource_class=resource_class,
        title="probe",
        quantity=Decimal(draw(st.integers(1, 5000))),
        unit=unit,
        available_from=None if starts is None else START + timedelta(days=starts),
        available_until=None if length is None else START + timedelta(days=(starts or 0) + length),
        quality=quality,
        # sites spread over ~220 km, so the 100 km limit and the box both matter
        latitude=draw(st.floats(59.0, 61.0)) if sited else None,
        longitude=draw(st.floats(8.0, 12.0)) if sited else None,
        price_per_unit_ore=draw(st.one_of(st.none(), st.integers(-20000, 20000))),
        use=use,
        accepts=("030101",) if kind == "need" and draw(st.integers(0, 5)) == 0 else (),
        max_distance_km=draw(st.sampled_from([None, None, 30.0, 170.0])),
        # a need that says neither how far nor how takes the way the offer moves (rail
        # goes 300 km), which the index must not cut at a road default
        transport_mode=draw(st.sampled_from([None, None, "rail", "road"])),
    )


def holds_independently(offer: OpenListing, need: OpenListing, quantity: Decimal) -> None:
    assert offer.kind == "offer" and need.kind == "need"
    assert offer.company_id != need.company_id
    distance = distance_km(offer, need)
    reach = offer.reach_km
    if need.max_distance_km is not None or need.transport_mode is not None:
        reach = min(reach, need.reach_km)
    assert distance is None or distance <= reach
    starts = [d for d in (offer.available_from, need.available_from) if d]
    ends = [d for d in (offer.available_until, need.available_until) if d]
    assert not starts or not ends or max(starts) <= min(ends)
    available = convert(offer.quantity, offer.unit, need.unit)
    assert available is not None and 0 < quantity <= min(available, need.quantity)
    stated = {q["property"]: q for q in offer.quality}
    for limit in need.quality:
        value = stated[limit["property"]]["value"]
        assert limit.get("max") is None or value <= limit["max"]
        assert limit.get("min") is None or value >= limit["min"]
    if offer.ewc_code == "190813":
        assert need.ewc_code == "190813"  # only to a need for it: the receiver's permit


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    park=st.lists(listings(), min_size=1, max_size=40, unique_by=lambda x: x.listing_id),
    limit=st.sampled_from([1, 2, 3, 10]),
    haulage=st.sampled_from([None, 0, 250]),
)
async def test_the_indexed_matcher_proposes_what_a_scan_of_every_listing_proposes(
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
    park: list[OpenListing],
    limit: int,
    haulage: int | None,
) -> None:
    """The index reads every counterpart that fits, best bound first, each bound at or
    before the pair's place in the ranking; the matcher's shortlist (read in pages, until
    the rest cannot make the cut) is the brute force's, pair for pair, in the same order."""
    monkeypatch.setattr(matcher, "MIN_PAGE", 1)  # pages of 2 rows and up: several per lookup
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM open_listings")
        for listing in park:
            await storage.index_listing(conn, listing, index_version())
        for listing in park:
            others = [other for other in park if other.listing_id != listing.listing_id]
            read = await storage.ranked_counterparts(conn, listing, 10_000)
            ids = [other.listing_id for other, _ in read]
            assert len(ids) == len(set(ids))
            assert fitting(listing, others) <= set(ids)
            places = [(*bound.rank, other.listing_id) for other, bound in read]
            assert places == sorted(places)
            for (other, _), place in zip(read, places, strict=True):
                if (proposal := propose(listing, other, haulage)) is not None:
                    place_of = rank_key(
                        proposal.value, other.listing_id, proposal.quantity, proposal.unit
                    )
                    assert place_of >= place
            found = await shortlist(conn, listing, limit, haulage)
            assert found.best() == best_proposals(listing, others, limit, haulage)
            for proposal in found.best():
                holds_independently(proposal.offer, proposal.need, proposal.quantity)


async def test_a_new_knowledge_base_re_keys_the_index_it_inherits(pool: Pool) -> None:
    """Listings indexed under an older knowledge base (or before keys existed) are found
    by the new rules once the matcher starts: a use need finds an old fly-ash offer."""
    from services.matching.handlers import rekey

    ash = OpenListing(
        uuid.uuid4(), COMPANIES[0], "offer", "100102", None, "Fly ash", Decimal(100), "t"
    )
    kiln = OpenListing(
        uuid.uuid4(),
        COMPANIES[1],
        "need",
        None,
        None,
        "Kiln",
        Decimal(50),
        "t",
        use="cement_addition",
    )
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM open_listings")
        await storage.index_listing(conn, ash, "an older knowledge base")
        await conn.execute(
            "UPDATE open_listings SET keys = ARRAY[resource] WHERE listing_id = $1",
            ash.listing_id,
        )
        await conn.execute(
            "DELETE FROM open_listing_keys WHERE listing_id = $1 AND key <> $2",
            ash.listing_id,
            ash.resource,
        )
        assert not await storage.ranked_counterparts(conn, kiln, 100)
    assert await rekey(pool) == 1
    async with pool.acquire() as conn:
        found = await storage.ranked_counterparts(conn, kiln, 100)
    assert [c.listing_id for c, _ in found] == [ash.listing_id]
    assert await rekey(pool) == 0


async def test_a_listing_without_a_site_reads_its_best_counterparts_not_all_of_them(
    pool: Pool,
) -> None:
    """The tail of issue 19: a need without a site met every offer of its resource in the
    country, and the matcher applied the rules to each of them to keep 20. Now it reads
    the index best bound first and stops once the rest cannot make the cut: of 400 offers,
    sited and not, it reads a few pages, and proposes what a scan of all 400 proposes."""
    need = OpenListing(
        uuid.uuid4(),
        COMPANIES[0],
        "need",
        "030105",
        None,
        "Boiler fuel",
        Decimal(50),
        "t",
        price_per_unit_ore=60_000,
    )
    offers = [
        OpenListing(
            uuid.UUID(int=i + 1),
            COMPANIES[1 + i % 3],
            "offer",
            "030105",
            None,
            f"Sawdust {i}",
            Decimal(1 + i % 37),
            "t",
            latitude=None if i % 4 == 0 else 59.0 + (i % 50) / 25,
            longitude=None if i % 4 == 0 else 8.0 + (i % 70) / 20,
            price_per_unit_ore=10_000 + (i * 7919) % 50_000,
        )
        for i in range(400)
    ]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM open_listings")
        for offer in offers:
            await storage.index_listing(conn, offer, index_version())
        found = await shortlist(conn, need, 5)
        assert found.best() == best_proposals(need, offers, 5)
        assert len(found.best()) == 5
        assert found.read <= 50  # pages of 10 and 40 at most, not 400


class _Statements:
    """A connection that keeps the statements the lookup sends (to explain them)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.sent.append((sql, args))
        return await self.conn.fetch(sql, *args)


def _index_rows_read(plan: dict[str, Any]) -> dict[str, int]:
    """Rows each index of the plan read (returned or removed by its filter)."""
    read: dict[str, int] = {}
    if "Index Name" in plan:
        rows = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        read[plan["Index Name"]] = read.get(plan["Index Name"], 0) + round(rows)
    for child in plan.get("Plans", []):
        for name, rows in _index_rows_read(child).items():
            read[name] = read.get(name, 0) + rows
    return read


async def test_a_need_without_a_distance_reads_the_offers_of_road_reach_near_it_only(
    pool: Pool,
) -> None:
    """The tail of issue 19, second round: a need that sets no distance keeps a reach of
    1,000 km, and its lookup read every offer of its resource in that box, though an offer
    that goes by road is never traded beyond 100 km. Now it reads those within 100 km of
    the need and, from an index of their own, the offers that go farther: of 150 offers by
    road 230 km away, 40 near and 10 by rail 230 km away, it reads 50 and finds the same
    counterparts as a scan of all 200."""
    need = OpenListing(
        uuid.uuid4(), COMPANIES[0], "need", "030105", None, "Boiler fuel", Decimal(50), "t",
        latitude=59.9, longitude=10.75, price_per_unit_ore=60_000,
    )  # fmt: skip

    def offer(i: int, latitude: float, mode: str | None) -> OpenListing:
        return OpenListing(
            uuid.UUID(int=i + 1), COMPANIES[1 + i % 3], "offer", "030105", None, f"Chips {i}",
            Decimal(1 + i % 37), "t", latitude=latitude, longitude=10.75 + (i % 9) / 10,
            price_per_unit_ore=10_000 + (i * 7919) % 50_000, transport_mode=mode,
        )  # fmt: skip

    offers = [
        *(offer(i, 62.0 + (i % 5) / 100, None) for i in range(150)),  # by road, 230 km north
        *(offer(i, 59.9 + (i % 7) / 20, None) for i in range(150, 190)),  # by road, near
        *(offer(i, 62.0, "rail") for i in range(190, 200)),  # by rail (300 km), 230 km north
    ]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM open_listings")
        for listing in offers:
            await storage.index_listing(conn, listing, index_version())
        await conn.execute("ANALYZE open_listing_keys")
        statements = _Statements(conn)
        read = await storage.ranked_counterparts(statements, need, 1_000)  # type: ignore[arg-type]
        assert {other.listing_id for other, _ in read} == fitting(need, offers)
        assert len(read) == 50
        (sql, args), *_ = statements.sent
        # the plan a table of 100,000 listings gets: no sequential scan of the key rows
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
        rows = _index_rows_read((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
        assert rows.get("open_listing_keys_far") == 10
        assert rows.get("open_listing_keys_lookup") == 40


async def test_a_listing_indexed_again_keeps_only_its_new_keys(pool: Pool) -> None:
    """Indexing a listing again (a change of resource) or re-keying it removes its old key
    rows in the statement that writes the listing, so no lookup finds it under what it was."""
    listing_id = uuid.uuid4()
    ash = OpenListing(listing_id, COMPANIES[0], "offer", "100102", None, "Ash", Decimal(9), "t")
    sawdust = OpenListing(
        listing_id, COMPANIES[0], "offer", "030105", None, "Sawdust", Decimal(9), "t"
    )

    async def keys() -> set[str]:
        rows = await conn.fetch(
            "SELECT key FROM open_listing_keys WHERE listing_id = $1", listing_id
        )
        return {r["key"] for r in rows}

    async with pool.acquire() as conn:
        await storage.index_listing(conn, ash, index_version())
        assert "100102" in await keys()
        await storage.index_listing(conn, sawdust, index_version())
        assert await keys() == set(sawdust.keys)
        await storage.set_keys(conn, sawdust, ["030105"], "a later knowledge base")
        assert await keys() == {"030105"}
