"""Kafka subscribers of the contracts service."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.contracts import storage
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import Envelope, Payload, Topic, TradeProposed, TradeRetracted
from shared.kafka import subscribe
from shared.settings import Settings

GROUP = "contracts"


def register(broker: KafkaBroker, pool: Pool, settings: Settings) -> None:
    async def on_trade_proposed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeProposed)

        async def effect(conn: Connection) -> None:
            await storage.record_proposal(conn, payload, envelope.time)

        await apply_once(pool, GROUP, Topic.PROPOSALS, envelope, effect)

    async def on_trade_retracted(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeRetracted)

        async def effect(conn: Connection) -> None:
            await storage.retract_proposal(conn, payload.proposal_id)

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
