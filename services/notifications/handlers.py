"""Kafka subscribers of the notifications service."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.notifications import storage
from services.notifications.domain import notes_for_proposal, notes_for_retraction
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import Envelope, Payload, Topic, TradeProposed, TradeRetracted
from shared.kafka import subscribe
from shared.settings import Settings

GROUP = "notifications"


def register(broker: KafkaBroker, pool: Pool, settings: Settings) -> None:
    async def on_trade_proposed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeProposed)

        async def effect(conn: Connection) -> None:
            for note in notes_for_proposal(envelope.id, payload):
                await storage.add_note(conn, note, envelope.id, envelope.type, envelope.subject)

        await apply_once(pool, GROUP, Topic.PROPOSALS, envelope, effect)

    async def on_trade_retracted(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeRetracted)

        async def effect(conn: Connection) -> None:
            for note in notes_for_retraction(envelope.id, payload):
                await storage.add_note(conn, note, envelope.id, envelope.type, envelope.subject)

        await apply_once(pool, GROUP, Topic.PROPOSALS, envelope, effect)

    subscribe(
        broker,
        settings,
        Topic.PROPOSALS,
        group_id=GROUP,
        handlers={
            TradeProposed.event_type: on_trade_proposed,
            TradeRetracted.event_type: on_trade_retracted,
        },
    )
