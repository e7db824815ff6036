"""The fault suite's own servers: a PostgreSQL and an Apache Kafka that the tests may kill
(the session's are shared by every other test), configured as `symbiosis up` runs them,
and the exchange's processes on them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from symbiosis.broker.server import EmbeddedKafka
from symbiosis.embedded import EmbeddedPostgres
from symbiosis.processes import Child, stop_all
from tests.conftest import STRIPE_API_KEY, MailDrop, create_database
from tests.support import Infra, Stack, free_port_block, run_sync, running_stack

pytestmark = pytest.mark.faults


@dataclass
class Servers:
    """The killable servers and where they are."""

    folder: Path
    kafka_port: int
    postgres_port: int
    kafka: Child | None = None
    postgres: Child | None = None

    def broker(self) -> EmbeddedKafka:
        return EmbeddedKafka(
            self.folder / "kafka",
            self.kafka_port,
            self.kafka_port + 1,
            self.folder / "credentials",
            self.folder / "kafka.log",
        )

    def database(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.folder / "pg", self.postgres_port)

    def start_kafka(self) -> None:
        self.kafka = self.broker().start()

    def start_postgres(self) -> None:
        self.postgres = self.database().start()

    @property
    def infra(self) -> Infra:
        url = self.database().url.rsplit("/", 1)[0] + "/postgres"
        broker = self.broker()
        return Infra(url, broker.bootstrap_servers, broker.credentials)


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    port = free_port_block(3)
    found = Servers(tmp_path_factory.mktemp("fault-servers"), port, port + 2)
    found.start_postgres()
    found.start_kafka()
    try:
        yield found
    finally:
        stop_all([c for c in (found.kafka, found.postgres) if c is not None])


@pytest.fixture(scope="package")
def fault_stack(
    servers: Servers,
    stripe_mock: str,
    mail_drop: tuple[MailDrop, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    database = run_sync(create_database(servers.infra))
    env = {
        "SYMBIOSIS_STRIPE_API_KEY": STRIPE_API_KEY,
        "SYMBIOSIS_STRIPE_API_BASE": stripe_mock,
        "SYMBIOSIS_SMTP_HOST": "127.0.0.1",
        "SYMBIOSIS_SMTP_PORT": str(mail_drop[1]),
        "SYMBIOSIS_SMTP_STARTTLS": "false",
    }
    with running_stack(
        servers.infra, database, tmp_path_factory.mktemp("fault-stack"), extra_env=env
    ) as stack:
        yield stack
