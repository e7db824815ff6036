"""The embedded broker's configuration (issue 12): pure parts."""

from __future__ import annotations

from symbiosis.broker.server import cluster_id, embedded_listeners, server_properties


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
