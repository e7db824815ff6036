import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.events import (
    Envelope,
    ListingPublished,
    PoisonMessage,
    Topic,
    UnknownEventType,
    decode,
    payload_of,
)


def listing_event(**changes: object) -> ListingPublished:
    fields: dict[str, object] = {
        "listing_id": uuid.uuid4(),
        "company_id": uuid.uuid4(),
        "kind": "offer",
        "ewc_code": "030105",
        "title": "Sawdust",
        "quantity": Decimal("12.5"),
        "unit": "t",
        "hazardous": False,
        "published_at": datetime(2026, 11, 1, tzinfo=UTC),
    }
    fields.update(changes)
    return ListingPublished.model_validate(fields)


def test_envelope_uses_cloudevents_attribute_names() -> None:
    payload = listing_event()
    envelope = Envelope.wrap(payload, source="/services/listings", subject=payload.listing_id)
    body = json.loads(envelope.to_bytes())
    assert body["specversion"] == "1.0"
    assert body["type"] == "listing.published"
    assert body["source"] == "/services/listings"
    assert body["subject"] == str(payload.listing_id)
    assert body["datacontenttype"] == "application/json"
    assert body["schemaversion"] == 1
    assert uuid.UUID(body["id"])
    assert datetime.fromisoformat(body["time"]).tzinfo is not None
    # without a cause, an event correlates with itself
    assert body["correlationid"] == body["id"]
    assert body["data"]["quantity"] == "12.5"


def test_envelope_round_trips_to_the_same_payload() -> None:
    payload = listing_event()
    envelope = Envelope.wrap(payload, source="s", subject="x", correlation_id="req-1")
    decoded = decode(envelope.to_bytes())
    assert decoded == envelope
    assert decoded.correlationid == "req-1"
    assert payload_of(decoded) == payload


def test_topic_dead_letter_name() -> None:
    assert Topic.LISTINGS.dead_letter == "listings.events.v1.dlq"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe not json",
        b"[]",
        b'{"specversion": "1.0"}',
        b'{"specversion": "0.3", "id": "1", "type": "t", "source": "s", "subject": "x",'
        b' "time": "2026-01-01T00:00:00Z", "schemaversion": 1, "correlationid": "c", "data": {}}',
    ],
)
def test_undecodable_messages_are_poison(raw: bytes) -> None:
    with pytest.raises(PoisonMessage):
        decode(raw)


def test_an_invalid_payload_is_poison_and_names_the_field() -> None:
    envelope = Envelope.wrap(listing_event(), source="s", subject="x")
    broken = envelope.model_copy(update={"data": {**envelope.data, "quantity": "-3"}})
    with pytest.raises(PoisonMessage, match="quantity"):
        payload_of(decode(broken.to_bytes()))


def test_an_unknown_event_type_is_not_poison_but_unknown() -> None:
    envelope = Envelope.wrap(listing_event(), source="s", subject="x")
    other = envelope.model_copy(update={"type": "listing.teleported"})
    with pytest.raises(UnknownEventType):
        other.payload()


def test_payloads_are_frozen() -> None:
    payload = listing_event()
    with pytest.raises(Exception, match="frozen"):
        payload.title = "changed"  # type: ignore[misc]
