"""Kafka subscribers of the notifications service: every event that concerns a company
becomes a note in its inbox, once."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.notifications import storage
from services.notifications.domain import ROUTES, notes_for
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import Envelope, Payload, Topic
from shared.kafka import subscribe
from shared.settings import Settings

GROUP = "notifications"


def register(broker: KafkaBroker, pool: Pool, settings: Settings) -> None:
    async def on_event(envelope: Envelope, payload: Payload) -> None:
        async def effect(conn: Connection) -> None:
            for note in notes_for(envelope.id, payload):
                await storage.add_note(conn, note, envelope.id, envelope.type, envelope.subject)

        await apply_once(pool, GROUP, payload.topic, envelope, effect)

    for topic in (Topic.PROPOSALS, Topic.CONTRACTS):
        subscribe(
            broker,
            settings,
            topic,
            group_id=GROUP,
            handlers={kind.event_type: on_event for kind in ROUTES if kind.topic == topic},
        )
