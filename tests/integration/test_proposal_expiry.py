"""Unanswered proposals expire, once, with a retraction their parties are told about."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import services.matching as matching_package
from services.matching.config import MatchingSettings
from services.matching.handlers import expire_proposals
from shared.db import Pool, create_pool
from shared.events import Envelope
from shared.migrations import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "matching")
    async with pool.acquire() as conn:
        await migrate(conn, "matching", Path(matching_package.__file__).parent / "migrations")
    yield pool
    await pool.close()


async def add_proposal(pool: Pool, age_hours: float) -> uuid.UUID:
    proposal_id = uuid.uuid4()
    await pool.execute(
        """
        INSERT INTO proposals (id, offer_id, need_id, supplier_company_id, receiver_company_id,
                               ewc_code, quantity, unit, reasons, created_at)
        VALUES ($1, $2, $3, $4, $5, '030105', 5, 't', '[]',
                now() - make_interval(secs => $6))
        """,
        proposal_id,
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        age_hours * 3600,
    )
    return proposal_id


async def test_old_proposals_expire_and_are_announced_once(pool: Pool) -> None:
    settings = MatchingSettings(proposal_expiry_hours=48)
    old = await add_proposal(pool, 49)
    fresh = await add_proposal(pool, 47)
    assert await expire_proposals(pool, settings) == 1
    assert await expire_proposals(pool, settings) == 0  # nothing twice
    statuses = dict(await pool.fetch("SELECT id, status FROM proposals"))
    assert statuses == {old: "expired", fresh: "proposed"}
    rows = await pool.fetch("SELECT payload FROM outbox")
    assert len(rows) == 1
    event = Envelope.model_validate_json(bytes(rows[0]["payload"]))
    assert (event.type, event.subject) == ("trade.retracted", str(old))
    assert "expired after 2 days" in event.data["reason"]
