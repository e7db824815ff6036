"""Kafka subscribers of the notifications service: every event that concerns a company
becomes a note in its inbox, once, and a delivery for each webhook endpoint that asked for
it; public listing events become deliveries for partners' endpoints (they make no notes);
what partners may read goes on partners.events.v1, as partners may see it."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.notifications.config import NotificationsSettings
from services.notifications.domain import PARTNER_EVENT_TYPES, ROUTES, notes_for
from services.notifications.email import enqueue_emails, enqueue_link
from services.notifications.partner_feed import companies_of, partner_envelope, partner_view
from services.notifications.storage import companies as companies_store
from services.notifications.storage import inbox as inbox_store
from services.notifications.storage import people as people_store
from services.notifications.webhooks import enqueue_webhooks
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import (
    PARTNER_FEED,
    PAYLOAD_TYPES,
    CompanyChanged,
    Envelope,
    Payload,
    PersonChanged,
    PersonLinkIssued,
    Topic,
)
from shared.kafka import subscribe
from shared.outbox import enqueue

GROUP = "notifications"


async def apply_event(
    conn: Connection, envelope: Envelope, payload: Payload, settings: NotificationsSettings
) -> None:
    """What one event does here, in the transaction that marks it applied."""
    if isinstance(payload, CompanyChanged):
        await companies_store.remember(conn, payload)
    partner: Envelope | None = None  # what partners see of it, on the stream and by webhook
    if type(payload) in PARTNER_FEED:
        known = await companies_store.sharing(conn, companies_of(payload))
        view = partner_view(payload, known)
        if view is not None:
            partner = partner_envelope(envelope, view)
            await enqueue(conn, Topic.PARTNERS, partner)
    if isinstance(payload, PersonChanged):
        await people_store.remember(conn, payload)
        return
    if isinstance(payload, PersonLinkIssued):
        await enqueue_link(conn, envelope, payload, settings)
        return
    if type(payload) in ROUTES:
        notes = notes_for(envelope.id, payload)
        for note in notes:
            await inbox_store.add_note(conn, note, envelope.id, envelope.type, envelope.subject)
        await enqueue_emails(conn, envelope, notes, settings)
    await enqueue_webhooks(conn, envelope, payload, partner)


def register(broker: KafkaBroker, pool: Pool, settings: NotificationsSettings) -> None:
    async def on_event(envelope: Envelope, payload: Payload) -> None:
        async def effect(conn: Connection) -> None:
            await apply_event(conn, envelope, payload, settings)

        await apply_once(pool, GROUP, payload.topic, envelope, effect)

    every: list[type[Payload]] = [*ROUTES, *PARTNER_FEED, PersonChanged, PersonLinkIssued]
    every += [PAYLOAD_TYPES[name] for name in PARTNER_EVENT_TYPES]
    for topic in Topic:
        kinds = {kind for kind in every if kind.topic == topic}
        if kinds:
            subscribe(
                broker,
                settings,
                topic,
                group_id=GROUP,
                handlers=dict.fromkeys(sorted(kinds, key=lambda k: k.event_type), on_event),
            )
