"""Test infrastructure: a real PostgreSQL and a real Kafka-protocol broker.

Given SYMBIOSIS_TEST_DATABASE_URL (a server URL whose user may create databases) or
SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS, the tests use those servers (CI provides Apache Kafka);
otherwise they start the embedded PostgreSQL and the embedded broker themselves. Each
test gets a fresh database and a fresh topic namespace.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.auth import ensure_signing_keys
from shared.settings import Settings
from symbiosis.embedded import EmbeddedBroker, EmbeddedPostgres
from symbiosis.processes import stop_all
from tests.support import Infra, free_port


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    children = []
    postgres_url = os.environ.get("SYMBIOSIS_TEST_DATABASE_URL")
    if not postgres_url:
        postgres = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), free_port())
        children.append(postgres.start())
        postgres_url = postgres.url.rsplit("/", 1)[0] + "/postgres"
    bootstrap = os.environ.get("SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        idempotent = os.environ.get("SYMBIOSIS_KAFKA_IDEMPOTENT_PRODUCER", "true") != "false"
    else:
        if os.environ.get("CI"):
            pytest.exit(
                "CI must provide Apache Kafka in SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS; "
                "refusing to fall back to the embedded broker",
                returncode=3,
            )
        broker = EmbeddedBroker(tmp_path_factory.mktemp("broker"), free_port())
        children.append(broker.start())
        bootstrap, idempotent = broker.bootstrap_servers, False
    try:
        yield Infra(postgres_url, bootstrap, idempotent)
    finally:
        stop_all(children)


async def create_database(infra: Infra) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(infra.postgres_admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return infra.postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def database_url(infra: Infra) -> AsyncIterator[str]:
    yield await create_database(infra)


@pytest.fixture
def settings(infra: Infra, database_url: str, tmp_path: Path) -> Settings:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        kafka_idempotent_producer=infra.idempotent_producer,
        kafka_namespace=f"t{uuid.uuid4().hex[:10]}.",
        data_dir=tmp_path,
        outbox_poll_interval_seconds=0.5,
    )
    ensure_signing_keys(settings)
    return settings
