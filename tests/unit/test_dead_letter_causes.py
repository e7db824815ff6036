"""The kind of failure the console shows in the reader's language is read off the reason
``shared/kafka.py`` records with a dead letter (``dlq-reason``): here the reasons are the
ones it writes, on FastStream's in-memory TestKafkaBroker, so a change of its wording that
the console would no longer understand fails here."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared import kafka
from shared.events import ApiKeyRevoked, Envelope, Payload, Topic
from shared.kafka import subscribe
from shared.operations import cause_of
from shared.settings import Settings

SETTINGS = Settings(kafka_bootstrap_servers="in-memory:9092", kafka_namespace="unit.")


def revoked() -> Envelope:
    key = uuid.uuid4()
    payload = ApiKeyRevoked(key_id=key, company_id=None, revoked_at=datetime.now(UTC))
    return Envelope.wrap(payload, source="/tests", subject=key)


async def test_each_reason_the_consumer_records_has_its_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka, "MAX_ATTEMPTS", 2)  # the wording is the same after 5
    broker = KafkaBroker("in-memory:9092")
    reasons: list[str] = []

    async def failing(envelope: Envelope, payload: Payload) -> None:
        if envelope.subject == "fails":
            raise ValueError("the handler's own bug")

    subscribe(broker, SETTINGS, Topic.LISTINGS, group_id="unit", handlers={ApiKeyRevoked: failing})

    @broker.subscriber("unit." + Topic.LISTINGS.dead_letter, group_id="dlq-reader")
    async def dead_letters(message: KafkaMessage) -> None:
        reasons.append(str(message.headers.get("dlq-reason", "")))

    topic = "unit." + Topic.LISTINGS
    good = revoked()
    stranger = good.model_copy(update={"id": uuid.uuid4(), "type": "api_key.teleported"})
    broken = good.model_dump(mode="json")
    broken["id"] = str(uuid.uuid4())
    broken["data"] = {"key_id": "not a uuid"}
    fails = good.model_copy(update={"id": uuid.uuid4(), "subject": "fails"})
    async with TestKafkaBroker(broker) as test:
        await test.publish(b"not an event", topic)
        await test.publish(stranger.to_bytes(), topic, headers={"ce_type": stranger.type})
        await test.publish(broken, topic, headers={"ce_type": good.type})
        for _ in range(2):  # the in-memory broker does not redeliver: the test does
            with contextlib.suppress(ValueError):
                await test.publish(fails.to_bytes(), topic, headers={"ce_type": fails.type})
    assert [cause_of(r) for r in reasons] == [
        ("unreadable", None),
        ("unknown_type", None),
        ("invalid_payload", None),
        ("handler_failed", 2),
    ], reasons


def test_a_reason_the_consumer_does_not_write_is_other() -> None:
    assert cause_of("") == ("other", None)
    assert cause_of("stopped by hand") == ("other", None)
    assert cause_of("handler failed many times: x") == ("other", None)
