"""Two matching instances in one consumer group make exactly the proposals one would.

How: the instances share their state in PostgreSQL. Kafka gives each a share of the
listings topic's partitions; a listing's matching runs under advisory locks on the
resources involved (an offer locks its own, a need every one it accepts), so an offer and
a need handled at the same moment by the two instances are serialised and the second
sees the first; proposal ids derive from the pair, so none is made twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.matching.domain import OpenListing, propose
from shared.events import Envelope, Topic
from shared.settings import SERVICES
from tests.conftest import create_database
from tests.support import (
    Infra,
    Stack,
    eventually,
    read_topic,
    register_company,
    running_stack,
)

pytestmark = pytest.mark.e2e

# Each resource with a need's quality limit, so that some pairs fit and some do not.
RESOURCES = ("020304", "170101", "030105")


@pytest.fixture
async def two_matchers_database(infra: Infra) -> str:
    return await create_database(infra)


@pytest.fixture
def two_matchers(
    infra: Infra, two_matchers_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("two-matchers")
    with running_stack(infra, two_matchers_database, data_dir, ports=7) as stack:
        stack.start("matching-2", service="matching", port=stack.http_port + 6)
        stack.wait_healthy(["matching"])
        yield stack


def listing_body(kind: str, code: str, i: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "ewc_code": code,
        "title": f"{kind} {code} #{i}",
        "quantity": str(5 + i),
        "unit": "t",
    }
    if kind == "offer":
        body["quality"] = [{"property": "moisture", "unit": "%", "value": 10 + 7 * i}]
    else:
        body["quality"] = [{"property": "moisture", "unit": "%", "max": 40}]
    return body


def as_open_listing(listing: dict[str, Any]) -> OpenListing:
    return OpenListing(
        listing_id=uuid.UUID(listing["id"]),
        company_id=uuid.UUID(listing["company_id"]),
        kind=listing["kind"],
        ewc_code=listing["ewc_code"],
        resource_class=None,
        title=listing["title"],
        quantity=Decimal(listing["quantity"]),
        unit=listing["unit"],
        available_from=None,
        available_until=None,
        quality=tuple(q for q in listing["quality"]),
    )


async def test_two_instances_propose_what_one_would_and_nothing_twice(
    two_matchers: Stack, two_matchers_database: str, infra: Infra
) -> None:
    stack = two_matchers
    # the second instance has joined the group and both hold partitions
    await eventually(lambda: both_members(stack), timeout=90)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        companies = [await register_company(client, f"Company {i} AS") for i in range(6)]
        bodies = [
            (companies[(i + j) % 6], listing_body(kind, code, i))
            for j, code in enumerate(RESOURCES)
            for i in range(6)
            for kind in ("offer", "need")
        ]

        async def post(company: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(
                "/api/listings/listings/", json=body, headers=company["headers"]
            )
            assert response.status_code == 201, response.text
            return dict(response.json())

        # all at once, so that offers and needs race each other across the two instances
        posted = await asyncio.gather(*(post(c, b) for c, b in bodies))

    listings = [as_open_listing(item) for item in posted]
    expected = {
        (p.offer.listing_id, p.need.listing_id)
        for a in listings
        for b in listings
        if a.kind == "offer" and (p := propose(a, b)) is not None
    }
    assert 10 < len(expected) < len(listings) ** 2 // 4  # some fit, some do not

    db = await asyncpg.connect(two_matchers_database)
    try:

        async def made() -> set[tuple[uuid.UUID, uuid.UUID]] | None:
            rows = await db.fetch("SELECT offer_id, need_id FROM matching.proposals")
            found = {(r["offer_id"], r["need_id"]) for r in rows}
            return found if len(found) >= len(expected) else None

        await eventually(made, timeout=60)
        await asyncio.sleep(2)
        assert await made() == expected
    finally:
        await db.close()

    events = [
        Envelope.model_validate_json(r.value)
        for r in await read_topic(infra, stack.namespace + Topic.PROPOSALS)
    ]
    subjects = [e.subject for e in events if e.type == "trade.proposed"]
    assert len(subjects) == len(set(subjects)) == len(expected)  # each announced once

    # both instances still hold partitions of the listings topic, each its own
    assert await both_members(stack)


# Where each instance answers: the first on its service's port, the second beside the stack.
def instance_port(stack: Stack, name: str) -> int:
    return stack.http_port + (6 if name == "matching-2" else 1 + SERVICES.index("matching"))


async def partitions(stack: Stack, name: str) -> list[int]:
    """The partitions of the listings topic this instance's matcher holds, as its own
    readiness report says (``/api/matching/health``, asked of the instance itself)."""
    url = f"http://127.0.0.1:{instance_port(stack, name)}/api/matching/health"
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            report = (await client.get(url)).json()
        except (httpx.TransportError, ValueError):
            return []
    groups = report.get("checks", {}).get("consumers", {}).get("groups", [])
    return next(
        (
            list(g["partitions"])
            for g in groups
            if g["topic"].endswith(Topic.LISTINGS.value) and g["joined"]
        ),
        [],
    )


async def both_members(stack: Stack) -> bool:
    """Both instances hold partitions of the listings topic, and none holds one twice."""
    held = [await partitions(stack, name) for name in ("matching", "matching-2")]
    every = [p for found in held for p in found]
    return all(held) and len(every) == len(set(every))
