"""What services keep of their plumbing is pruned past its window (issue 14): sent outbox
rows, applied events' ids, Idempotency-Key answers; nothing younger, nothing unsent."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from shared.db import create_pool
from shared.migrations import migrate
from shared.retention import prune
from shared.settings import Settings

pytestmark = pytest.mark.integration


async def test_only_what_is_past_its_window_goes(settings: Settings, tmp_path: object) -> None:
    pool = await create_pool(settings.require_database_url(), "retention")
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "retention", tmp_path)  # type: ignore[arg-type]
            old, young = "now() - interval '40 days'", "now() - interval '1 hour'"
            for sent, created in ((old, old), (young, young), ("NULL", old)):
                await conn.execute(
                    "INSERT INTO outbox (event_id, topic, key, payload, created_at, sent_at) "
                    f"VALUES ($1, 't', 'k', '\\x00', {created}, {sent})",
                    uuid.uuid4(),
                )
            for at in (old, young):
                await conn.execute(
                    "INSERT INTO processed_events (consumer, event_id, topic, processed_at) "
                    f"VALUES ('c', $1, 't', {at})",
                    uuid.uuid4(),
                )
                await conn.execute(
                    "INSERT INTO idempotency_keys (owner, key, request_hash, created_at) "
                    f"VALUES ('o', $1, 'h', {at.replace('40 days', '2 days')})",
                    str(uuid.uuid4()),
                )
        assert await prune(pool, settings) == {
            "outbox": 1,
            "processed_events": 1,
            "idempotency_keys": 1,
        }
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 2  # the young, the unsent
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 1
        assert await pool.fetchval("SELECT count(*) FROM processed_events") == 1
        assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 1
        assert await prune(pool, settings) == dict.fromkeys(
            ("outbox", "processed_events", "idempotency_keys"), 0
        )
    finally:
        await pool.close()


def test_applied_ids_must_outlive_every_redelivery() -> None:
    with pytest.raises(ValidationError, match="would act twice"):
        Settings(processed_event_retention_days=5, kafka_log_retention_days=7)
