"""A negotiation nobody answers expires once, and both sides are told; a proposal the
matcher retracts takes an unanswered negotiation with it, but not an answered one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import services.contracts as contracts_package
from services.contracts import storage
from services.contracts.domain.negotiation import Proposal
from services.contracts.negotiations import expire_negotiations
from shared.db import Pool, create_pool
from shared.events import Envelope
from shared.migrations import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "contracts")
    async with pool.acquire() as conn:
        await migrate(conn, "contracts", Path(contracts_package.__file__).parent / "migrations")
    yield pool
    await pool.close()


async def negotiation(pool: Pool, expires_in_hours: float) -> Proposal:
    proposal_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO proposals (id, offer_id, need_id, supplier_company_id,
                                   receiver_company_id, ewc_code, title, quantity, unit, reasons,
                                   proposed_at)
            VALUES ($1, $2, $3, $4, $5, '030105', 'Sawdust', 12, 't', '[]', now())
            """,
            proposal_id,
            uuid.uuid4(),
            uuid.uuid4(),
            uuid.uuid4(),
            uuid.uuid4(),
        )
        proposal = await storage.proposal(conn, proposal_id)
        await storage.open_negotiation(
            conn, proposal, 5000, datetime.now(UTC) + timedelta(hours=expires_in_hours)
        )
    return proposal


async def outbox(pool: Pool) -> list[Envelope]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [Envelope.model_validate_json(bytes(r["payload"])) for r in rows]


async def test_an_unanswered_negotiation_expires_once_and_is_announced(pool: Pool) -> None:
    old = await negotiation(pool, -1)
    fresh = await negotiation(pool, 24)
    assert await expire_negotiations(pool) == 1
    assert await expire_negotiations(pool) == 0
    statuses = dict(await pool.fetch("SELECT id, status FROM negotiations"))
    assert statuses == {old.id: "expired", fresh.id: "open"}
    terms = await pool.fetchval("SELECT status FROM terms WHERE negotiation_id = $1", old.id)
    assert terms == "expired"
    events = await outbox(pool)
    assert [(e.type, e.subject) for e in events] == [("negotiation.expired", str(old.id))]
    steps = await pool.fetch(
        "SELECT action FROM negotiation_steps WHERE negotiation_id = $1 ORDER BY id", old.id
    )
    assert [s["action"] for s in steps] == ["proposed", "expired"]


async def test_a_retracted_proposal_withdraws_only_an_unanswered_negotiation(pool: Pool) -> None:
    untouched = await negotiation(pool, 24)
    answered = await negotiation(pool, 24)
    async with pool.acquire() as conn, conn.transaction():
        await storage.add_step(
            conn,
            answered.id,
            answered.receiver_company_id,
            uuid.uuid4(),
            "api_key",
            "countered",
            None,
        )
        for proposal in (untouched, answered):
            await storage.withdraw_untouched_negotiation(conn, proposal.id)
    statuses = dict(await pool.fetch("SELECT id, status FROM negotiations"))
    assert statuses == {untouched.id: "withdrawn", answered.id: "open"}
    # proposed again: the withdrawn negotiation reopens with fresh terms from the exchange
    async with pool.acquire() as conn, conn.transaction():
        await storage.open_negotiation(
            conn, untouched, 6000, datetime.now(UTC) + timedelta(hours=24)
        )
    terms = await pool.fetch(
        "SELECT version, status, price_per_unit_ore FROM terms WHERE negotiation_id = $1"
        " ORDER BY version",
        untouched.id,
    )
    assert [(t["version"], t["status"], t["price_per_unit_ore"]) for t in terms] == [
        (1, "superseded", 5000),
        (2, "open", 6000),
    ]
    assert Decimal(12) == await pool.fetchval(
        "SELECT quantity FROM terms WHERE negotiation_id = $1 AND version = 2", untouched.id
    )
