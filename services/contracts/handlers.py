"""Kafka subscribers of the contracts service."""

from __future__ import annotations

from datetime import timedelta

from faststream.kafka import KafkaBroker

from services.contracts import storage
from services.contracts.deliveries import cancel_contract
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import (
    Envelope,
    ListingReservationRefused,
    Payload,
    Topic,
    TradeProposed,
    TradeRetracted,
)
from shared.kafka import subscribe
from shared.settings import Settings

GROUP = "contracts"


def register(broker: KafkaBroker, pool: Pool, settings: Settings) -> None:
    async def on_trade_proposed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeProposed)

        async def effect(conn: Connection) -> None:
            if not await storage.record_proposal(conn, payload, envelope.time):
                return
            proposal = await storage.proposal(conn, payload.proposal_id)
            value = payload.value
            await storage.open_negotiation(
                conn,
                proposal,
                None if value is None else value.suggested_price_ore_per_unit,
                envelope.time + timedelta(hours=settings.negotiation_expiry_hours),
            )

        await apply_once(pool, GROUP, Topic.PROPOSALS, envelope, effect)

    async def on_trade_retracted(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeRetracted)

        async def effect(conn: Connection) -> None:
            await storage.retract_proposal(conn, payload.proposal_id)
            await storage.withdraw_untouched_negotiation(conn, payload.proposal_id)

        await apply_once(pool, GROUP, Topic.PROPOSALS, envelope, effect)

    async def on_reservation_refused(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, ListingReservationRefused)

        async def effect(conn: Connection) -> None:
            contract = await storage.contract(conn, payload.contract_id, None, lock=True)
            if contract is None or contract["status"] != "active":
                return
            await cancel_contract(
                conn,
                contract,
                None,
                f"the listings could not reserve it: {payload.reason}",
                envelope.correlationid,
            )

        await apply_once(pool, GROUP, Topic.LISTINGS, envelope, effect)

    subscribe(
        broker,
        settings,
        Topic.LISTINGS,
        group_id=GROUP,
        handlers={ListingReservationRefused.event_type: on_reservation_refused},
    )
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
