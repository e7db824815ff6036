"""Poison messages, redeliveries: nothing stalls, nothing happens twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.events import Envelope, ListingPublished, Topic, TradeProposed
from tests.support import Infra, Stack, eventually, produce, read_topic, register_company

pytestmark = pytest.mark.e2e


def listing_envelope(company: dict[str, Any], kind: str, code: str) -> Envelope:
    listing_id = uuid.uuid4()
    payload = ListingPublished(
        listing_id=listing_id,
        company_id=uuid.UUID(company["company"]["id"]),
        kind=kind,  # type: ignore[arg-type]
        ewc_code=code,
        title="Crafted listing",
        quantity=Decimal(3),
        unit="t",
        hazardous=False,
        published_at=datetime.now(UTC),
    )
    return Envelope.wrap(payload, source="/tests", subject=listing_id)


def proposal_envelope(supplier: dict[str, Any], receiver: dict[str, Any]) -> Envelope:
    proposal_id = uuid.uuid4()
    payload = TradeProposed(
        proposal_id=proposal_id,
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=uuid.UUID(supplier["company"]["id"]),
        receiver_company_id=uuid.UUID(receiver["company"]["id"]),
        ewc_code="170405",
        title="Steel scrap",
        quantity=Decimal(7),
        unit="t",
        reasons=("crafted by a test",),
    )
    return Envelope.wrap(payload, source="/tests", subject=proposal_id)


def poison_variants(good: Envelope) -> list[bytes]:
    invalid_payload = good.model_copy(update={"data": {**good.data, "quantity": "-1"}})
    return [b"\x00 this is not json", b'{"specversion": "1.0"}', invalid_payload.to_bytes()]


async def test_poison_on_listings_topic_is_dead_lettered_and_the_partition_moves_on(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    supplier = await register_company(client, "Poison Supplier AS")
    receiver = await register_company(client, "Poison Receiver AS")
    offer = listing_envelope(supplier, "offer", "120101")
    need = listing_envelope(receiver, "need", "120101")
    topic = stack.namespace + Topic.LISTINGS
    key = offer.subject.encode()
    poisons = poison_variants(offer)
    for poison in poisons:  # all on the offer's partition, ahead of it
        await produce(infra, topic, poison, key)
    await produce(infra, topic, offer.to_bytes(), key)
    await produce(infra, topic, need.to_bytes(), need.subject.encode())

    async def proposed() -> list[Any]:
        response = await client.get("/api/matching/proposals/", headers=receiver["headers"])
        return list(response.json())

    proposals = await eventually(proposed)
    assert proposals[0]["offer_id"] == offer.subject

    dead = await read_topic(infra, topic + ".dlq")
    by_group: dict[str, list[bytes]] = {}
    causes = dict(zip(poisons, ("unreadable", "unreadable", "invalid_payload"), strict=True))
    for record in dead:
        if record.value not in poisons:
            continue
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["dlq-origin-topic"] == topic
        assert headers["dlq-reason"].startswith("poison:")
        assert headers["dlq-cause"] == causes[record.value], headers
        assert int(headers["dlq-origin-offset"]) >= 0
        assert record.key == key
        by_group.setdefault(headers["dlq-consumer-group"], []).append(record.value)
    # the matcher reads listing.published events and refuses all three, once each
    assert sorted(by_group.pop(stack.namespace + "matching")) == sorted(poisons)
    # so do the notifications, which send listing.published to partners' webhooks, and
    # contracts, which keeps each listing's quantity so as never to agree on more
    assert sorted(by_group.pop(stack.namespace + "notifications")) == sorted(poisons)
    assert sorted(by_group.pop(stack.namespace + "contracts")) == sorted(poisons)
    # every service also reads this topic for revoked API keys, on its own consumer of it
    # (the three above); the listings service has none, so one of its own, where an event
    # type it does not handle is skipped, but an undecodable envelope is dead-lettered too
    assert sorted(by_group) == [f"{stack.namespace}listings-credentials"]
    assert all(sorted(v) == sorted(poisons[:2]) for v in by_group.values())


async def test_poison_on_proposals_topic_is_dead_lettered_by_each_consumer(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    supplier = await register_company(client, "Steel Supplier AS")
    receiver = await register_company(client, "Steel Receiver AS")
    good = proposal_envelope(supplier, receiver)
    topic = stack.namespace + Topic.PROPOSALS
    poisons = poison_variants(good)
    for poison in poisons:
        await produce(infra, topic, poison, good.subject.encode())
    await produce(infra, topic, good.to_bytes(), good.subject.encode())

    async def contracts_has_it() -> bool:
        response = await client.get(
            f"/api/contracts/proposals/{good.subject}", headers=receiver["headers"]
        )
        return response.status_code == 200

    async def inbox_has_it() -> bool:
        response = await client.get("/api/notifications/inbox/", headers=supplier["headers"])
        return any(e["subject_id"] == good.subject for e in response.json())

    await eventually(contracts_has_it)
    await eventually(inbox_has_it)
    dead = await read_topic(infra, topic + ".dlq")
    groups: dict[str, list[bytes]] = {}
    for record in dead:
        if record.value in poisons:
            group = dict(record.headers)["dlq-consumer-group"].decode()
            groups.setdefault(group, []).append(record.value)
    assert sorted(groups) == sorted(
        [stack.namespace + "contracts", stack.namespace + "notifications"]
    )
    assert all(sorted(values) == sorted(poisons) for values in groups.values())


async def test_a_redelivered_event_has_no_second_effect(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    supplier = await register_company(client, "Redelivery Supplier AS")
    receiver = await register_company(client, "Redelivery Receiver AS")
    event = proposal_envelope(supplier, receiver)
    topic = stack.namespace + Topic.PROPOSALS
    key = event.subject.encode()

    async def inbox_entries() -> list[Any]:
        response = await client.get("/api/notifications/inbox/", headers=receiver["headers"])
        return list(response.json())

    await produce(infra, topic, event.to_bytes(), key)
    assert len(await eventually(inbox_entries)) == 1

    # The broker delivers the same event again (at-least-once), then a later event of the
    # same proposal: once the later one shows, the redelivery has been consumed too.
    await produce(infra, topic, event.to_bytes(), key)
    later = event.model_copy(update={"id": uuid.uuid4()})
    await produce(infra, topic, later.to_bytes(), key)

    async def later_seen() -> bool:
        return any(e["event_id"] == str(later.id) for e in await inbox_entries())

    await eventually(later_seen)
    await asyncio.sleep(1)
    entries = await inbox_entries()
    assert sorted(e["event_id"] for e in entries) == sorted([str(event.id), str(later.id)])
    contracts = await client.get("/api/contracts/proposals/", headers=receiver["headers"])
    assert [p["id"] for p in contracts.json()] == [event.subject]


async def test_an_event_of_an_unknown_type_is_dead_lettered_with_its_reason(
    client: httpx.AsyncClient, stack: Stack, infra: Infra
) -> None:
    """A type no code of the exchange knows (a stray, or a newer producer) is poison: every
    consumer of the topic dead-letters it with the reason, none retries it for ever, and the
    partition moves on to the next event."""
    supplier = await register_company(client, "Stray Type Supplier AS")
    receiver = await register_company(client, "Stray Type Receiver AS")
    good = proposal_envelope(supplier, receiver)
    stray = good.model_copy(update={"id": uuid.uuid4(), "type": "trade.teleported"}).to_bytes()
    topic = stack.namespace + Topic.PROPOSALS
    await produce(infra, topic, stray, good.subject.encode())
    await produce(infra, topic, good.to_bytes(), good.subject.encode())

    async def contracts_has_it() -> bool:
        response = await client.get(
            f"/api/contracts/proposals/{good.subject}", headers=receiver["headers"]
        )
        return response.status_code == 200

    await eventually(contracts_has_it)

    async def dead_lettered() -> dict[str, str] | None:
        reasons = {
            dict(r.headers)["dlq-consumer-group"].decode(): dict(r.headers)["dlq-reason"].decode()
            for r in await read_topic(infra, topic + ".dlq")
            if r.value == stray
        }
        return reasons if len(reasons) == 2 else None

    reasons = await eventually(dead_lettered)
    assert sorted(reasons) == sorted(
        [stack.namespace + "contracts", stack.namespace + "notifications"]
    )
    assert all("unknown event type 'trade.teleported'" in r for r in reasons.values()), reasons
    causes = [
        dict(r.headers).get("dlq-cause")
        for r in await read_topic(infra, topic + ".dlq")
        if r.value == stray
    ]
    assert causes and set(causes) == {b"unknown_type"}, causes
