"""Dispatch by payload class (issue 14), on FastStream's in-memory TestKafkaBroker: each
event reaches the handler of its class; a type the exchange does not know, or a message that
is no event, is dead-lettered with the reason; a known type nobody here handles is skipped.
(The same on the real broker: tests/e2e/test_delivery_guarantees.py.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared.events import (
    PAYLOAD_TYPES,
    ApiKeyRevoked,
    Envelope,
    Payload,
    PersonChanged,
    Topic,
)
from shared.kafka import subscribe
from shared.settings import Settings

SETTINGS = Settings(kafka_bootstrap_servers="in-memory:9092", kafka_namespace="unit.")


def revoked() -> Envelope:
    key = uuid.uuid4()
    payload = ApiKeyRevoked(key_id=key, company_id=None, revoked_at=datetime.now(UTC))
    return Envelope.wrap(payload, source="/tests", subject=key)


def test_payload_classes_register_themselves_and_only_once() -> None:
    assert PAYLOAD_TYPES["api_key.revoked"] is ApiKeyRevoked
    with pytest.raises(TypeError, match=r"api_key\.revoked"):

        class Impostor(Payload):  # another class claiming the type is refused at once
            event_type = "api_key.revoked"
            topic = Topic.LISTINGS


async def test_each_event_reaches_its_class_handler_and_strangers_are_dead_lettered() -> None:
    broker = KafkaBroker("in-memory:9092")
    seen: list[Payload] = []
    dead: list[tuple[bytes, str]] = []

    async def on_revoked(envelope: Envelope, payload: Payload) -> None:
        seen.append(payload)

    subscribe(
        broker, SETTINGS, Topic.LISTINGS, group_id="unit", handlers={ApiKeyRevoked: on_revoked}
    )

    @broker.subscriber("unit." + Topic.LISTINGS.dead_letter, group_id="dlq-reader")
    async def dead_letters(message: KafkaMessage) -> None:
        dead.append((message.body, str(message.headers.get("dlq-reason", ""))))

    async with TestKafkaBroker(broker) as test:
        good = revoked()
        stranger = good.model_copy(update={"id": uuid.uuid4(), "type": "api_key.teleported"})
        person = PersonChanged(
            person_id=uuid.uuid4(),
            company_id=None,
            email="kari@example.no",
            name="Kari",
            language="nb",
            role="admin",
            status="active",
        )
        other = Envelope.wrap(person, source="/tests", subject=person.person_id)
        topic = "unit." + Topic.LISTINGS
        await test.publish(good.to_bytes(), topic, headers={"ce_type": good.type})
        await test.publish(stranger.to_bytes(), topic, headers={"ce_type": stranger.type})
        await test.publish(other.to_bytes(), topic, headers={"ce_type": other.type})
        await test.publish(b"not an event", topic)
    assert [p for p in seen] == [good.payload()]  # the person is nobody's business here
    reasons = [reason for _, reason in dead]
    assert any("unknown event type 'api_key.teleported'" in r for r in reasons), reasons
    assert any(
        (r.startswith("poison:") and "message" in r.lower()) or "json" in r.lower() for r in reasons
    )
    assert len(dead) == 2
