"""Every service's own record of credentials refused before they run out, kept from the
listings service's events, so that a revocation holds within seconds everywhere:

- ``api_key.revoked``: an API key (a company's or a partner's) was revoked, directly or
  because the person who made it was disabled;
- ``person.changed`` with status ``disabled``: every token of that person is refused;
- ``access_token.revoked``: one access token ended by signing out.

Each service records them in its own schema (``revoked_api_keys``, ``revoked_credentials``)
through apply-once handlers on its own consumer of the listings topic, and every recording
is announced on the ``revocations`` NOTIFY channel, so that what holds a credential open
(the notifications service's live streams) lets go at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from faststream.kafka import KafkaBroker

from shared.auth import Principal
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import AccessTokenRevoked, ApiKeyRevoked, Envelope, Payload, PersonChanged, Topic
from shared.kafka import EventHandler, also_handle, subscribe, unclaimed
from shared.settings import Settings

CHANNEL = "revocations"  # NOTIFY payload: the revoked credential's id


async def record_revocation(conn: Connection, revoked: ApiKeyRevoked) -> None:
    """An API key is refused from now on."""
    await conn.execute(
        "INSERT INTO revoked_api_keys (key_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        revoked.key_id,
        revoked.revoked_at,
    )
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(revoked.key_id))


async def record_revoked_credential(
    conn: Connection,
    credential_id: uuid.UUID,
    kind: Literal["person", "access_token"],
    revoked_at: datetime,
    expires_at: datetime | None = None,
) -> None:
    """A person (all their tokens) or one access token is refused from now on."""
    await conn.execute(
        """
        INSERT INTO revoked_credentials (credential_id, kind, revoked_at, expires_at)
        VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
        """,
        credential_id,
        kind,
        revoked_at,
        expires_at,
    )
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(credential_id))


async def is_revoked(pool: Pool | Connection, principal: Principal) -> bool:
    """Whether the caller's credential was revoked: the API key, or the person or token."""
    if principal.kind == "api_key":
        query = "SELECT true FROM revoked_api_keys WHERE key_id = ANY($1::uuid[])"
    else:
        query = "SELECT true FROM revoked_credentials WHERE credential_id = ANY($1::uuid[])"
    return bool(await pool.fetchval(query, list(principal.credential_ids)))


def subscribe_revocations(
    broker: KafkaBroker,
    pool: Pool,
    settings: Settings,
    service: str,
    register: Callable[[], None] = lambda: None,
) -> None:
    """Record revocations from the listings topic, on the service's own consumer of it:
    ``register`` (which subscribes the service's consumers) finds the handlers below waiting
    for its subscription of the topic (``shared.kafka.also_handle``), so a service reads the
    topic in one consumer group, not two. A service that has no consumer of the topic gets
    one of its own, ``<service>-credentials``. Each recording applies once under that name,
    whichever group delivers it."""
    group = f"{service}-credentials"  # the apply-once name, and the group when on its own

    async def on_key_revoked(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ApiKeyRevoked)

        async def effect(conn: Connection) -> None:
            await record_revocation(conn, payload)

        await apply_once(pool, group, Topic.LISTINGS, envelope, effect)

    async def on_person_changed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, PersonChanged)
        if payload.status != "disabled":
            return

        async def effect(conn: Connection) -> None:
            await record_revoked_credential(conn, payload.person_id, "person", envelope.time)

        await apply_once(pool, group, Topic.LISTINGS, envelope, effect)

    async def on_token_revoked(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, AccessTokenRevoked)

        async def effect(conn: Connection) -> None:
            await record_revoked_credential(
                conn, payload.token_id, "access_token", payload.revoked_at, payload.expires_at
            )

        await apply_once(pool, group, Topic.LISTINGS, envelope, effect)

    handlers: dict[type[Payload], EventHandler] = {
        ApiKeyRevoked: on_key_revoked,
        PersonChanged: on_person_changed,
        AccessTokenRevoked: on_token_revoked,
    }
    also_handle(broker, settings.kafka_namespace + Topic.LISTINGS, handlers)
    register()
    alone = unclaimed(broker, settings.kafka_namespace + Topic.LISTINGS)
    if alone:
        subscribe(broker, settings, Topic.LISTINGS, group_id=group, handlers=alone)
