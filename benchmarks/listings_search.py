"""Search over 100,000 listings: latency of each kind of query, with and without indexes.

    make bench            (or: .venv/bin/python -m benchmarks.listings_search [--listings N])

Uses SYMBIOSIS_DATABASE_URL when set, else starts the embedded PostgreSQL in a temporary
folder. Prints a table of median and p99 per query, measured in one run against the same
data with the planner allowed to use indexes and then forced to scan, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

import services.listings as listings_package
from services.listings import storage
from shared.db import Pool, create_pool, init_connection
from shared.ewc import catalogue
from shared.migrations import migrate
from shared.resources import RESOURCE_CLASSES
from shared.settings import Settings
from shared.units import dimension, to_base
from symbiosis.embedded import EmbeddedPostgres
from symbiosis.processes import stop_all

WORDS = (
    "sawdust",
    "bark",
    "chips",
    "ash",
    "sludge",
    "film",
    "pallets",
    "steel",
    "glass",
    "gypsum",
    "digestate",
    "heat",
    "water",
    "cardboard",
    "concrete",
    "oil",
    "solvent",
)


def fake_listings(n: int, companies: list[uuid.UUID]) -> list[tuple[object, ...]]:
    codes = [c for c, entry in catalogue().items() if not entry.hazardous]
    classes = list(RESOURCE_CLASSES)
    rows: list[tuple[object, ...]] = []
    now = datetime.now(UTC)
    for i in range(n):
        use_class = random.random() < 0.2
        resource_class = random.choice(classes) if use_class else None
        unit = (
            RESOURCE_CLASSES[resource_class].units[0]
            if resource_class
            else random.choice(["t", "kg", "m3"])
        )
        quantity = Decimal(random.randint(1, 5000))
        title = " ".join(random.sample(WORDS, 3))
        rows.append(
            (
                uuid.uuid4(),
                random.choice(companies),
                random.choice(["offer", "need"]),
                None if use_class else random.choice(codes),
                resource_class,
                False,
                title,
                f"{title} from plant {i}",
                quantity,
                quantity,
                unit,
                dimension(unit),
                to_base(quantity, unit),
                random.choice(["once", "monthly"]),
                date.today(),
                59.0 + random.random(),
                10.5 + random.random(),
                random.choices(["open", "draft", "withdrawn"], weights=[8, 1, 1])[0],
                now - timedelta(seconds=i),
            )
        )
    return rows


COLUMNS = (
    "id",
    "company_id",
    "kind",
    "ewc_code",
    "resource_class",
    "hazardous",
    "title",
    "description",
    "quantity",
    "remaining_quantity",
    "unit",
    "dimension",
    "quantity_base",
    "frequency",
    "available_from",
    "latitude",
    "longitude",
    "status",
    "created_at",
)


async def load(pool: Pool, n: int) -> list[uuid.UUID]:
    companies = [uuid.uuid4() for _ in range(200)]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO companies (id, name, org_number) VALUES ($1, $2, $3)",
            [(c, f"Company {i}", f"{900000000 + i:09d}") for i, c in enumerate(companies)],
        )
        await conn.copy_records_to_table(
            "listings", records=fake_listings(n, companies), columns=COLUMNS
        )
        await conn.execute("ANALYZE listings")
    return companies


def queries(companies: list[uuid.UUID]) -> dict[str, Callable[[], storage.ListingQuery]]:
    viewer = companies[0]
    return {
        "newest page": lambda: storage.ListingQuery(viewer=viewer, limit=51),
        "by code": lambda: storage.ListingQuery(viewer=viewer, ewc_code="030105", limit=51),
        "by chapter": lambda: storage.ListingQuery(viewer=viewer, chapter="0301", limit=51),
        "by class": lambda: storage.ListingQuery(viewer=viewer, resource_class="heat", limit=51),
        "text": lambda: storage.ListingQuery(viewer=viewer, text="sawdust chips", limit=51),
        "company": lambda: storage.ListingQuery(
            viewer=viewer, company_id=random.choice(companies), limit=51
        ),
        "within 5 km": lambda: storage.ListingQuery(
            viewer=viewer, near=(59.25 + random.random() / 2, 11.0), within_km=5, limit=51
        ),
        "quantity range": lambda: storage.ListingQuery(
            viewer=viewer,
            dimension="mass",
            min_base=Decimal(100_000),
            max_base=Decimal(200_000),
            sort="quantity_asc",
            limit=51,
        ),
        "mine": lambda: storage.ListingQuery(viewer=viewer, mine=True, limit=51),
    }


async def measure(
    conn: asyncpg.Connection[Any],
    make: Callable[[], storage.ListingQuery],
    rounds: int,
) -> list[float]:
    times = []
    for _ in range(rounds):
        query = make()
        started = time.perf_counter()
        await storage.search_listings(conn, query)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def connect(database_url: str, scan: bool) -> asyncpg.Connection[Any]:
    """A connection whose planner may use indexes, or one forced to scan the table."""
    settings = {"search_path": "listings, public"}
    if scan:
        settings |= {
            "enable_indexscan": "off",
            "enable_bitmapscan": "off",
            "enable_indexonlyscan": "off",
        }
    conn = await asyncpg.connect(database_url, server_settings=settings)
    await init_connection(conn)
    return conn


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def run(n: int, rounds: int, database_url: str) -> None:
    pool = await create_pool(database_url, "listings", max_size=4)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "listings", Path(listings_package.__file__).parent / "migrations")
        started = time.perf_counter()
        companies = await load(pool, n)
        print(f"loaded {n:,} listings in {time.perf_counter() - started:.1f} s\n")
        print(
            f"{'query':<16} {'indexed p50':>12} {'p99':>8} {'scan p50':>10} {'p99':>8} "
            f"{'speed-up':>9}   (ms, {rounds} rounds each)"
        )
        indexed_conn = await connect(database_url, scan=False)
        scan_conn = await connect(database_url, scan=True)
        try:
            for name, make in queries(companies).items():
                await measure(indexed_conn, make, 5)  # warm the cache
                indexed = await measure(indexed_conn, make, rounds)
                scanned = await measure(scan_conn, make, max(5, rounds // 10))
                ratio = statistics.median(scanned) / statistics.median(indexed)
                print(
                    f"{name:<16} {statistics.median(indexed):>12.2f} {p(indexed, 99):>8.2f} "
                    f"{statistics.median(scanned):>10.2f} {p(scanned, 99):>8.2f} "
                    f"{ratio:>8.1f}x"
                )
        finally:
            await indexed_conn.close()
            await scan_conn.close()
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    settings = Settings()
    if settings.database_url:
        asyncio.run(run(args.listings, args.rounds, settings.database_url.get_secret_value()))
        return
    with tempfile.TemporaryDirectory() as folder:
        postgres = EmbeddedPostgres(Path(folder), 25432)
        child = postgres.start()
        try:
            url = postgres.url.rsplit("/", 1)[0] + "/postgres"
            asyncio.run(run(args.listings, args.rounds, url))
        finally:
            stop_all([child])


if __name__ == "__main__":
    main()
