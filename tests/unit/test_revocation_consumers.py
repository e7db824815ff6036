"""Revocations ride on each service's own consumer of the listings topic (issue 19): a
service reads that topic in one consumer group, not a second one that decodes every listing
event again only to keep three event types; a service without a consumer of the topic gets
one of its own for them."""

from __future__ import annotations

import importlib
from collections import Counter

import pytest
from faststream.kafka import KafkaBroker

from shared.events import Topic
from shared.revocations import subscribe_revocations
from symbiosis.config import SETTINGS_OF


def groups_by_topic(service: str) -> Counter[tuple[str, str]]:
    """How many subscriptions of each (topic, group) the service registers as it does at start."""
    broker = KafkaBroker("127.0.0.1:9")  # never started
    handlers = importlib.import_module(f"services.{service}.handlers")
    settings = SETTINGS_OF[service]()
    subscribe_revocations(
        broker,
        None,  # type: ignore[arg-type]  # not called: the handlers only subscribe
        settings,
        service,
        lambda: handlers.register(broker, None, settings),
    )
    return Counter(
        (str(getattr(topic, "name", topic)), str(subscriber.group_id))
        for subscriber in broker.subscribers
        for topic in subscriber.topics
    )


@pytest.mark.parametrize("service", ["matching", "contracts", "notifications"])
def test_a_service_reads_the_listings_topic_in_one_group(service: str) -> None:
    subscriptions = groups_by_topic(service)
    on_listings = [group for topic, group in subscriptions if topic == Topic.LISTINGS]
    assert on_listings == [service]
    assert all(count == 1 for count in subscriptions.values())


def test_a_service_without_a_consumer_of_the_topic_gets_one_for_revocations() -> None:
    subscriptions = groups_by_topic("listings")
    assert subscriptions[(Topic.LISTINGS.value, "listings-credentials")] == 1
    assert [group for topic, group in subscriptions if topic == Topic.LISTINGS] == [
        "listings-credentials"
    ]
