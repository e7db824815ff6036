"""The embedded broker's configuration (issue 12): pure parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from symbiosis.broker.runtime import KafkaRuntime
from symbiosis.broker.server import (
    EmbeddedKafka,
    cluster_id,
    embedded_listeners,
    server_properties,
)
from symbiosis.config import StackSettings


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    # one id in 64 would, and Kafka's storage tool then reads it as an option
    ids = [cluster_id() for _ in range(2000)]
    assert not [made for made in ids if made.startswith("-")]
    assert all(len(made) == 22 for made in ids)


def test_every_listener_asks_for_scram_and_listens_on_loopback() -> None:
    properties = server_properties(embedded_listeners(19092, 19093), "/data", "secret")
    protocols = dict(
        item.split(":") for item in properties["listener.security.protocol.map"].split(",")
    )
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert all("127.0.0.1:" in part for part in properties["listeners"].split(","))
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["auto.create.topics.enable"] == "false"


class _Runtime(KafkaRuntime):
    """Jars and Java where they would be, without looking for them."""

    @property
    def java(self) -> Path:
        return Path("/jdk/bin/java")


def _broker(tmp_path: Path, **options: Any) -> EmbeddedKafka:
    return EmbeddedKafka(
        tmp_path / "kafka",
        29092,
        29093,
        tmp_path / "credentials",
        tmp_path / "kafka.log",
        _Runtime(home=tmp_path / "runtime"),
        **options,
    )


def test_the_embedded_broker_starts_quick_unless_told_to_run_as_production(
    tmp_path: Path,
) -> None:
    quick = _broker(tmp_path)._java("kafka.Kafka", "server.properties")
    assert quick[:3] == ["/jdk/bin/java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    full = _broker(tmp_path, jit="full")._java("kafka.Kafka", "server.properties")
    assert not [option for option in full if option.startswith("-XX:")]
    assert full[-2:] == ["kafka.Kafka", "server.properties"]
    # the storage tool runs for a second whatever the broker does: never with C2
    tool = _broker(tmp_path, jit="full")._java("kafka.tools.StorageTool", jit="quick")
    assert "-XX:TieredStopAtLevel=1" in tool


def test_up_refuses_a_way_of_compiling_it_does_not_know() -> None:
    assert StackSettings().embedded_kafka_jit == "quick"
    assert StackSettings(embedded_kafka_jit="full").embedded_kafka_jit == "full"
    with pytest.raises(ValidationError, match="embedded_kafka_jit"):
        StackSettings(embedded_kafka_jit="fast")
