"""Every service's own list of revoked API keys, kept from ``api_key.revoked`` events."""

from __future__ import annotations

import uuid

from faststream.kafka import KafkaBroker

from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import ApiKeyRevoked, Envelope, Payload, Topic
from shared.kafka import subscribe
from shared.settings import Settings


async def record_revocation(conn: Connection, revoked: ApiKeyRevoked) -> None:
    await conn.execute(
        "INSERT INTO revoked_api_keys (key_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        revoked.key_id,
        revoked.revoked_at,
    )


async def is_revoked(pool: Pool, key_id: uuid.UUID) -> bool:
    return bool(await pool.fetchval("SELECT true FROM revoked_api_keys WHERE key_id = $1", key_id))


def subscribe_revocations(
    broker: KafkaBroker, pool: Pool, settings: Settings, service: str
) -> None:
    group = f"{service}-credentials"

    async def on_revoked(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ApiKeyRevoked)

        async def effect(conn: Connection) -> None:
            await record_revocation(conn, payload)

        await apply_once(pool, group, Topic.LISTINGS, envelope, effect)

    subscribe(
        broker,
        settings,
        Topic.LISTINGS,
        group_id=group,
        handlers={ApiKeyRevoked: on_revoked},
    )
