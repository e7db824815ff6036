"""Kafka subscribers of the notifications service: every event that concerns a company
becomes a note in its inbox, once, and a delivery for each webhook endpoint that asked for
it; public listing events become deliveries for partners' endpoints (they make no notes)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.notifications.domain import PARTNER_EVENT_TYPES, ROUTES, notes_for
from services.notifications.email import enqueue_emails
from services.notifications.storage import inbox as inbox_store
from services.notifications.storage import people as people_store
from services.notifications.webhooks import enqueue_webhooks
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import Envelope, Payload, PersonChanged, Topic
from shared.kafka import subscribe
from shared.settings import Settings

GROUP = "notifications"


def register(broker: KafkaBroker, pool: Pool, settings: Settings) -> None:
    async def on_event(envelope: Envelope, payload: Payload) -> None:
        async def effect(conn: Connection) -> None:
            if isinstance(payload, PersonChanged):
                await people_store.remember(conn, payload)
                return
            if type(payload) in ROUTES:
                notes = notes_for(envelope.id, payload)
                for note in notes:
                    await inbox_store.add_note(
                        conn, note, envelope.id, envelope.type, envelope.subject
                    )
                await enqueue_emails(conn, envelope, notes, settings)
            await enqueue_webhooks(conn, envelope, payload)

        await apply_once(pool, GROUP, payload.topic, envelope, effect)

    for topic in Topic:
        types = {kind.event_type for kind in ROUTES if kind.topic == topic}
        if topic == Topic.LISTINGS:
            types |= {*PARTNER_EVENT_TYPES, PersonChanged.event_type}
        if types:
            subscribe(
                broker,
                settings,
                topic,
                group_id=GROUP,
                handlers=dict.fromkeys(sorted(types), on_event),
            )
