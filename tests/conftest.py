"""Test infrastructure: a real PostgreSQL and a real Apache Kafka, configured as in
production (SASL/SCRAM on every listener, ACLs).

Given SYMBIOSIS_TEST_DATABASE_URL (a server URL whose user may create databases) or
SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS, the tests use those servers (CI starts Apache Kafka with
`symbiosis kafka`); otherwise they start the embedded PostgreSQL and Apache Kafka
themselves. Each test gets a fresh database and a fresh topic namespace, with its own
principals and ACLs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import Browser

from services.listings.config import ListingsSettings
from shared.auth import ensure_signing_keys
from shared.settings import KAFKA_ADMIN, Settings
from symbiosis.broker.server import EmbeddedKafka
from symbiosis.embedded import EmbeddedPostgres, stripe_mock_binary
from symbiosis.processes import stop_all
from tests.support import REPO, Infra, Stack, free_port, free_port_block, running_stack

# Which test was running and what it waited on, when a run is stopped over a test's time.
pytest_plugins = ["tests.watchdog"]

# What the suites that measure write to test-artifacts/, printed at the end of the run (a
# test's own output is captured).
REPORTED_ARTIFACTS = ("fault-suite.txt",)
_RUN_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name in REPORTED_ARTIFACTS:
        path = REPO / "test-artifacts" / name
        if path.is_file() and path.stat().st_mtime >= _RUN_STARTED:
            terminalreporter.write_sep("-", f"test-artifacts/{name}")
            terminalreporter.write(path.read_text())


STRIPE_MOCK_VERSION = "v0.203.0"  # as the Makefile's `stripe-mock` target
STRIPE_API_KEY = "sk_test_vikenpark"  # stripe-mock wants sk_test_ and letters or digits


def _stripe_mock_binary() -> str:
    """stripe-mock from SYMBIOSIS_STRIPE_MOCK, the PATH or .venv/bin; else built into .venv/bin."""
    found = stripe_mock_binary()  # as `symbiosis up` finds it
    if found is not None:
        return str(found)
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "stripe-mock is needed and was not found (SYMBIOSIS_STRIPE_MOCK, PATH, .venv/bin), "
            "and `go` is not installed to build it: install Go and run `make stripe-mock`",
            pytrace=False,
        )
    target = REPO / ".venv" / "bin"
    built = subprocess.run(
        [go, "install", f"github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION}"],
        env={**os.environ, "GOBIN": str(target)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if built.returncode != 0 or not (target / "stripe-mock").is_file():
        pytest.fail(
            f"`go install github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION}` failed:\n"
            f"{built.stdout}\n{built.stderr}",
            pytrace=False,
        )
    return str(target / "stripe-mock")


def _answers(url: str) -> bool:
    try:
        response = httpx.get(
            f"{url}/v1/customers", headers={"Authorization": f"Bearer {STRIPE_API_KEY}"}, timeout=2
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _wait_until_it_answers(url: str, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"stripe-mock exited with {process.returncode}", pytrace=False)
        if _answers(url):
            return
        time.sleep(0.1)
    pytest.fail(f"stripe-mock does not answer at {url}", pytrace=False)


@pytest.fixture(scope="session")
def stripe_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running stripe-mock: CI's (SYMBIOSIS_STRIPE_MOCK_URL) or one of our own."""
    given = os.environ.get("SYMBIOSIS_STRIPE_MOCK_URL")
    if given:
        _wait_until_it_answers(given.rstrip("/"), None)
        yield given.rstrip("/")
        return
    binary = _stripe_mock_binary()
    port = free_port()
    log_path = tmp_path_factory.mktemp("stripe-mock") / "stripe-mock.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, "-http-addr", f"127.0.0.1:{port}", "-https-addr", "127.0.0.1:0"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_it_answers(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One chromium for the session's browser tests (the ``browser`` fixture of
    tests/e2e/test_portal_browser.py hands it to each module)."""
    from tests.e2e.test_portal_browser import launched_browser

    async with launched_browser() as browser:
        yield browser


class MailDrop:
    """A real SMTP server (aiosmtpd) that keeps what it receives, for the tests to read."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def mail_drop() -> Iterator[tuple[MailDrop, int]]:
    drop, port = MailDrop(), free_port()
    controller = Controller(drop, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield drop, port
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """PostgreSQL and Apache Kafka (KRaft, SASL/SCRAM, ACLs): CI's, or started here.

    CI gives SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS and SYMBIOSIS_TEST_KAFKA_ADMIN_CREDENTIALS
    (the folder with the admin's password, as `symbiosis kafka` writes it)."""
    children = []
    postgres_url = os.environ.get("SYMBIOSIS_TEST_DATABASE_URL")
    if not postgres_url:
        postgres = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), free_port())
        children.append(postgres.start())
        postgres_url = postgres.url.rsplit("/", 1)[0] + "/postgres"
    bootstrap = os.environ.get("SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        given = os.environ.get("SYMBIOSIS_TEST_KAFKA_ADMIN_CREDENTIALS")
        if not given or not (Path(given) / KAFKA_ADMIN).is_file():
            pytest.exit(
                "SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS is set, but "
                "SYMBIOSIS_TEST_KAFKA_ADMIN_CREDENTIALS does not name a folder with the Kafka "
                "admin's password",
                returncode=3,
            )
        credentials = Path(given)
    else:
        if os.environ.get("CI"):
            pytest.exit(
                "CI must provide Apache Kafka in SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS; "
                "refusing to start one of the tests' own",
                returncode=3,
            )
        folder = tmp_path_factory.mktemp("kafka")
        port = free_port_block(2)
        kafka = EmbeddedKafka(
            folder / "kafka", port, port + 1, folder / "credentials", folder / "kafka.log"
        )
        children.append(kafka.start())
        bootstrap, credentials = kafka.bootstrap_servers, kafka.credentials
    try:
        yield Infra(postgres_url, bootstrap, credentials)
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
    namespace = f"t{uuid.uuid4().hex[:10]}."
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        kafka_credentials_dir=infra.provision(namespace, tmp_path / "kafka-credentials"),
        kafka_namespace=namespace,
        data_dir=tmp_path,
        outbox_poll_interval_seconds=0.5,
    )
    ensure_signing_keys(ListingsSettings(data_dir=tmp_path))
    return settings


# --- The running stack, shared by the end-to-end and the security tests ------------------


@pytest.fixture(scope="session")
async def stack_database(infra: Infra) -> str:
    return await create_database(infra)


# The shared stack's Stripe webhook signing secret: tests sign events with it, as Stripe would.
WEBHOOK_SECRET = "whsec_e2e_stack_secret"


@pytest.fixture(scope="session")
def stack(
    infra: Infra,
    stack_database: str,
    stripe_mock: str,
    mail_drop: tuple[MailDrop, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """All four services and the gateway as real processes on the test servers, invoicing
    through stripe-mock."""
    stripe = {
        "SYMBIOSIS_STRIPE_API_KEY": STRIPE_API_KEY,
        "SYMBIOSIS_STRIPE_API_BASE": stripe_mock,
        "SYMBIOSIS_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SYMBIOSIS_SMTP_HOST": "127.0.0.1",
        "SYMBIOSIS_SMTP_PORT": str(mail_drop[1]),
        "SYMBIOSIS_SMTP_STARTTLS": "false",
        "SYMBIOSIS_LISTING_EXPIRY_CHECK_SECONDS": "1",
    }
    with running_stack(
        infra, stack_database, tmp_path_factory.mktemp("stack"), extra_env=stripe
    ) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        yield http
