"""docker-compose.yml's Kafka, run without Docker (issue 12): the configuration compose
mounts (infra/kafka/server.properties, the embedded broker's with compose's listeners), on
loopback ports, with the secrets infra/kafka/make-secrets.sh makes. A partner reads its
topic over the SASL_SSL listener, trusting only the CA the script made; a client that does
not trust it, or signs in wrongly, is refused."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.broker_admin import BrokerAdmin, partner_grants
from shared.events import Topic
from symbiosis.broker.server import COMPOSE_LISTENERS, EmbeddedKafka, Listeners
from symbiosis.processes import stop_all
from tests.support import REPO, free_port_block

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def compose_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedKafka, Path]]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make compose's secrets (infra/kafka/make-secrets.sh)")
    folder = tmp_path_factory.mktemp("compose-kafka")
    secrets = folder / "secrets"
    made = subprocess.run(
        ["sh", str(REPO / "infra" / "kafka" / "make-secrets.sh"), str(secrets)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    port = free_port_block(3)
    loopback = {
        name: (f"127.0.0.1:{port + i}", f"localhost:{port + i}" if advertised else None, protocol)
        for i, (name, (_, advertised, protocol)) in enumerate(COMPOSE_LISTENERS.listeners.items())
    }
    listeners = Listeners(loopback, controller_voter=f"127.0.0.1:{port + 1}")
    credentials = folder / "credentials"
    credentials.mkdir()
    shutil.copy(secrets / "admin", credentials / "admin")
    broker = EmbeddedKafka(
        folder / "kafka",
        port,
        port + 1,
        credentials,
        folder / "kafka.log",
        listeners=listeners,
        broker_pem=secrets / "broker.pem",
    )
    child = broker.start()
    try:
        yield broker, secrets
    finally:
        stop_all([child])


async def test_a_partner_reads_over_tls_on_the_compose_configuration(
    compose_kafka: tuple[EmbeddedKafka, Path],
) -> None:
    broker, secrets = compose_kafka
    admin_settings = broker.admin_settings()
    admin = BrokerAdmin(admin_settings)
    await admin.create_topics([Topic.PARTNERS.value])
    await admin.set_password("partner-tls", "tls partner password")
    await admin.grant(partner_grants("", "partner-tls"))
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="admin",
        sasl_plain_password=(secrets / "admin").read_text(),
        acks="all",
    )
    await producer.start()
    try:
        await producer.send_and_wait(Topic.PARTNERS.value, b'{"hello": "partner"}', key=b"k")
    finally:
        await producer.stop()

    partner_port = int(broker.listeners.listeners["PARTNER"][0].rsplit(":", 1)[1])

    def partner(
        context: ssl.SSLContext,
        password: str = "tls partner password",  # noqa: S107
    ) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            Topic.PARTNERS.value,
            bootstrap_servers=f"localhost:{partner_port}",
            security_protocol="SASL_SSL",
            ssl_context=context,
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username="partner-tls",
            sasl_plain_password=password,
            group_id="partner-tls.check",
            auto_offset_reset="earliest",
            request_timeout_ms=5000,
        )

    trusted = ssl.create_default_context(cafile=str(secrets / "ca.pem"))
    consumer = partner(trusted)
    await consumer.start()
    try:
        batch = await asyncio.wait_for(consumer.getmany(timeout_ms=10_000), 30)
        values = [r.value for records in batch.values() for r in records]
        assert values == [b'{"hello": "partner"}']
    finally:
        await consumer.stop()

    for refused in (
        partner(ssl.create_default_context()),  # does not trust the exchange's CA
        partner(trusted, password="wrong"),
    ):
        with pytest.raises(KafkaError):
            await asyncio.wait_for(refused.start(), 30)
        await refused.stop()


def test_the_compose_configuration_is_the_embedded_one_with_other_listeners() -> None:
    from symbiosis.broker.server import embedded_listeners, server_properties

    embedded = server_properties(embedded_listeners(1, 2), "/data", "pw")
    compose = server_properties(COMPOSE_LISTENERS, "/data", "pw")
    differing = {k for k in embedded.keys() | compose.keys() if embedded.get(k) != compose.get(k)}
    assert all("listener" in k or k == "controller.quorum.voters" for k in differing), differing
