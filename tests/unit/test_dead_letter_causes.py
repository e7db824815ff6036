"""The kind of failure the console shows in the reader's language is the cause
``shared/kafka.py`` records with a dead letter in a header of its own (``dlq-cause``, with
``dlq-attempts`` for a failing handler); for a message dead-lettered before that header,
it is read off the reason (``dlq-reason``). Here the headers are the ones it writes, on
FastStream's in-memory TestKafkaBroker, and the reasons too, so a change of their wording
that the fallback would no longer understand fails here."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import get_args

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared import kafka
from shared.events import ApiKeyRevoked, Envelope, Payload, Topic
from shared.kafka import DEAD_LETTER_CAUSES, DeadLetterCause, subscribe
from shared.operations import cause_in, cause_of
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
    written: list[dict[str, str]] = []

    async def failing(envelope: Envelope, payload: Payload) -> None:
        if envelope.subject == "fails":
            raise ValueError("the handler's own bug")

    subscribe(broker, SETTINGS, Topic.LISTINGS, group_id="unit", handlers={ApiKeyRevoked: failing})

    @broker.subscriber("unit." + Topic.LISTINGS.dead_letter, group_id="dlq-reader")
    async def dead_letters(message: KafkaMessage) -> None:
        written.append({k: str(v) for k, v in message.headers.items()})

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
    expected = [
        ("unreadable", None),
        ("unknown_type", None),
        ("invalid_payload", None),
        ("handler_failed", 2),
    ]
    # the cause and tries are headers of their own, which the console reads
    assert [(h.get("dlq-cause"), h.get("dlq-attempts")) for h in written] == [
        ("unreadable", None),
        ("unknown_type", None),
        ("invalid_payload", None),
        ("handler_failed", "2"),
    ], written
    assert [cause_in(h) for h in written] == expected
    without_reason = [{k: v for k, v in h.items() if k != "dlq-reason"} for h in written]
    assert [cause_in(h) for h in without_reason] == expected
    # the reasons still say it too, for the fallback's sake (and for people)
    assert [cause_of(h["dlq-reason"]) for h in written] == expected, written


def test_the_cause_header_wins_and_a_letter_from_before_it_is_read_off_its_reason() -> None:
    reason = "handler failed 5 times: ConnectionRefusedError('smtp')"
    assert cause_in({"dlq-reason": reason}) == ("handler_failed", 5)
    assert cause_in({"dlq-reason": "poison: x", "dlq-cause": "unknown_type"}) == (
        "unknown_type",
        None,
    )
    assert cause_in({"dlq-reason": "gave up", "dlq-cause": "handler_failed"}) == (
        "handler_failed",
        None,
    )
    headers = {"dlq-reason": "gave up", "dlq-cause": "handler_failed", "dlq-attempts": "7"}
    assert cause_in(headers) == ("handler_failed", 7)
    # a cause this code does not know (a newer writer's) is not guessed from the reason
    assert cause_in({"dlq-reason": reason, "dlq-cause": "cosmic_ray"}) == ("other", None)
    assert set(DEAD_LETTER_CAUSES) == set(get_args(DeadLetterCause))


def test_a_reason_the_consumer_does_not_write_is_other() -> None:
    assert cause_of("") == ("other", None)
    assert cause_of("stopped by hand") == ("other", None)
    assert cause_of("handler failed many times: x") == ("other", None)
