"""Kafka subscribers of the contracts service: each applies one event once, through
``services.contracts.application``."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.contracts import application
from services.contracts.config import ContractsSettings
from shared.consumer import apply_once
from shared.db import Connection, Pool
from shared.events import (
    CompanyChanged,
    CompanyDetailsChanged,
    Envelope,
    ListingPublished,
    ListingReservationRefused,
    ListingUpdated,
    ListingWithdrawn,
    Payload,
    Topic,
    TradeProposed,
    TradeRetracted,
)
from shared.kafka import subscribe

GROUP = "contracts"


def register(broker: KafkaBroker, pool: Pool, settings: ContractsSettings) -> None:
    async def on_trade_proposed(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeProposed)

        async def effect(conn: Connection) -> None:
            await application.open_negotiation(conn, payload, envelope.time, settings)

        await apply_once(pool, GROUP, Topic.PROPOSALS, envelope, effect)

    async def on_trade_retracted(envelope: Envelope, payload: Payload) -> None:
        assert isinstance(payload, TradeRetracted)

        async def effect(conn: Connection) -> None:
            await application.retract_proposal(conn, payload)

        await apply_once(pool, GROUP, Topic.PROPOSALS, envelope, effect)

    async def on_listing(envelope: Envelope, payload: Payload) -> None:
        async def effect(conn: Connection) -> None:
            if isinstance(payload, ListingReservationRefused):
                await application.reservation_refused(conn, payload, envelope.correlationid)
            elif isinstance(payload, CompanyDetailsChanged):
                await application.company_details_changed(conn, payload, settings)
            elif isinstance(payload, CompanyChanged):
                await application.company_changed(conn, payload)
            else:
                await application.listing_changed(conn, payload, envelope.time)

        await apply_once(pool, GROUP, Topic.LISTINGS, envelope, effect)

    subscribe(
        broker,
        settings,
        Topic.LISTINGS,
        group_id=GROUP,
        handlers={
            kind: on_listing
            for kind in (
                ListingPublished,
                ListingUpdated,
                ListingWithdrawn,
                ListingReservationRefused,
                CompanyDetailsChanged,
                CompanyChanged,
            )
        },
    )
    subscribe(
        broker,
        settings,
        Topic.PROPOSALS,
        group_id=GROUP,
        handlers={
            TradeProposed: on_trade_proposed,
            TradeRetracted: on_trade_retracted,
        },
    )
