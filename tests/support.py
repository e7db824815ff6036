"""Helpers the tests share: free ports, valid organisation numbers, a running stack."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.testing import AsyncTestClient
from litestar.types import ControllerRouterHandler
from stdnum.no import kontonr, orgnr

from services.listings.config import ListingsSettings
from shared.auth import TokenVerifier, ensure_signing_keys, load_public_key
from shared.broker_admin import ensure_password_files, provision
from shared.db import Pool, create_pool
from shared.http import EXCEPTION_HANDLERS, BearerAuthentication
from shared.kafka import client_options
from shared.migrations import migrate
from shared.service import provide_pool, provide_settings
from shared.settings import KAFKA_ADMIN, PORTAL, SERVICES, Settings

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    return free_port_block(1)


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free ports, below the kernel's ephemeral range
    (from which outgoing connections take their ports, and so could steal one of ours)."""
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        base = random.randint(10_000, ephemeral_start - size - 1)
        ok = True
        for port in range(base, base + size):
            with closing(socket.socket()) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports")


def org_number() -> str:
    """A random organisation number that passes the mod-11 check."""
    while True:
        candidate = str(random.randint(80_000_000, 99_999_999)) + str(random.randint(0, 9))
        if orgnr.is_valid(candidate):
            return candidate


@dataclass(frozen=True)
class Infra:
    """Where the test PostgreSQL server and Apache Kafka are, and the folder holding the
    password of Kafka's admin (a super user: the tests read and write any topic as it)."""

    postgres_admin_url: str
    kafka_bootstrap: str
    kafka_admin_credentials: Path

    def kafka_settings(self, namespace: str = "", credentials: Path | None = None) -> Settings:
        return Settings(
            kafka_bootstrap_servers=self.kafka_bootstrap,
            kafka_credentials_dir=credentials or self.kafka_admin_credentials,
            kafka_namespace=namespace,
        )

    def admin_client_options(self) -> dict[str, Any]:
        """aiokafka's settings for the admin."""
        return client_options(self.kafka_settings(), KAFKA_ADMIN)

    def provision(self, namespace: str, folder: Path) -> Path:
        """Topics, one principal per service (passwords in ``folder``) and their ACLs, in
        ``namespace``, as `symbiosis up` makes them; returns ``folder``."""
        passwords = ensure_password_files(folder, SERVICES)
        run_sync(provision(self.kafka_settings(namespace), passwords))
        return folder


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end from synchronous code, even under a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class Stack:
    """The services (and gateway) as real processes, like `symbiosis up` runs them."""

    env: dict[str, str]
    data_dir: Path
    http_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def namespace(self) -> str:
        return self.env["SYMBIOSIS_KAFKA_NAMESPACE"]

    def start(
        self,
        name: str,
        extra_env: Mapping[str, str] | None = None,
        *,
        service: str | None = None,
        port: int | None = None,
    ) -> None:
        """Start ``name`` (a service, the portal or the gateway); ``service`` and ``port`` run
        another instance of a service under a name of its own."""
        argv = [sys.executable, "-m", "symbiosis"] + (
            [name] if name in ("gateway", PORTAL) else ["serve", service or name]
        )
        if port is not None:
            argv += ["--port", str(port)]
        log = (self.data_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    def start_all(self) -> None:
        ensure_signing_keys(ListingsSettings(data_dir=self.data_dir))
        for name in (*SERVICES, PORTAL, "gateway"):
            self.start(name)
        self.wait_healthy(SERVICES)
        self.wait_healthy([PORTAL])

    def wait_healthy(self, names: tuple[str, ...] | list[str], timeout: float = 240) -> None:
        """Until each of ``names`` answers its health check with 200. A process that exits
        fails at once, with its log; the timeout is for one that hangs, and is generous
        because a loaded machine (two test processes each starting a stack, 12 Python
        processes importing at once) took over 90 s to start one."""
        deadline = time.monotonic() + timeout
        pending = set(names)
        last: dict[str, str] = {}
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while pending:
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited: {self.log(name)[-3000:]}")
                for name in list(pending):
                    # every path outside /api/ is the portal's
                    path = "/health" if name == PORTAL else f"/api/{name}/health"
                    try:
                        response = client.get(path)
                    except httpx.TransportError as exc:
                        last[name] = repr(exc)
                        continue
                    if response.status_code == 200:
                        pending.discard(name)
                    last[name] = f"{response.status_code} {response.text[:1500]}"
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"not healthy: {pending}; last answers: "
                        + "; ".join(f"{name}: {last.get(name)}" for name in pending)
                    )
                time.sleep(0.2)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def running_stack(
    infra: Infra,
    database_url: str,
    data_dir: Path,
    ports: int = 6,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """The four services, the portal and the gateway, started on ``ports`` consecutive free
    ports (any beyond six are left for extra instances), and stopped afterwards."""
    port = free_port_block(ports)
    env = {**stack_env(infra, database_url, data_dir, port), **(extra_env or {})}
    stack = Stack(env, data_dir, port)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


def stack_env(infra: Infra, database_url: str, data_dir: Path, http_port: int) -> dict[str, str]:
    """The environment of a stack's processes, in a Kafka namespace of its own whose
    principals and ACLs are made here, as `symbiosis up` makes them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBIOSIS_")}
    namespace = f"t{uuid.uuid4().hex[:10]}."
    credentials = infra.provision(namespace, data_dir / "kafka-credentials")
    env.update(
        {
            "SYMBIOSIS_DATABASE_URL": database_url,
            "SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "SYMBIOSIS_KAFKA_CREDENTIALS_DIR": str(credentials),
            "SYMBIOSIS_KAFKA_NAMESPACE": namespace,
            "SYMBIOSIS_DATA_DIR": str(data_dir),
            "SYMBIOSIS_HTTP_PORT": str(http_port),
            "SYMBIOSIS_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
            "SYMBIOSIS_LOG_LEVEL": "INFO",
            # The tests' webhook receivers listen on the loopback, which the exchange
            # refuses unless the park allows it.
            "SYMBIOSIS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    return env


@contextlib.asynccontextmanager
async def service_client(
    route_handlers: Sequence[ControllerRouterHandler],
    settings: Settings,
    keys: ListingsSettings,
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """Some of a service's controllers served in the test as the service serves them (its
    pool on ``settings``' database, its settings, problem answers and bearer tokens signed by
    ``keys``), without Kafka or the rest of the stack."""
    schema = settings.__class__.__module__.split(".")[1]  # services.<name>.config

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(settings.require_database_url(), schema)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        state=State({"settings": settings}),
        dependencies={
            "pool": Provide(provide_pool, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(
                BearerAuthentication, verifier=TokenVerifier(load_public_key(keys.public_key_path))
            )
        ],
    )
    async with AsyncTestClient(app=app) as running:
        yield running


@contextlib.asynccontextmanager
async def migrated_pool(database_url: str, service: str) -> AsyncIterator[Pool]:
    """A pool of ``service``'s schema, migrated as the service migrates it at start."""
    package = importlib.import_module(f"services.{service}")
    pool = await create_pool(database_url, service)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, service, Path(package.__file__).parent / "migrations")
        yield pool
    finally:
        await close_pool(pool)


async def close_pool(pool: Pool, within: float = 30.0) -> None:
    """Close ``pool``, failing (not hanging) when a connection is never given back: asyncpg's
    ``close`` waits for every checked-out connection, for ever."""
    try:
        await asyncio.wait_for(pool.close(), timeout=within)
    except TimeoutError:
        pool.terminate()
        pytest.fail(f"a connection of the pool was not given back within {within:g} s")


async def eventually(check: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Await ``check()`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def produce(infra: Infra, topic: str, value: bytes, key: bytes | None) -> None:
    """Write one record to ``topic`` as Kafka's admin."""
    producer = AIOKafkaProducer(acks="all", **infra.admin_client_options())
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_topic(infra: Infra, topic: str, timeout: float = 5.0) -> list[Any]:
    """Every record currently in ``topic``, read from the beginning without a group."""
    consumer = AIOKafkaConsumer(
        topic,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **infra.admin_client_options(),
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
            if not batch and records:
                break
    finally:
        await consumer.stop()
    return records


def bank_account() -> str:
    """A random Norwegian bank account number that passes the MOD11 check."""
    while True:
        candidate = str(random.randint(1_000_000_000, 9_999_999_999))
        for digit in "0123456789":
            if kontonr.is_valid(candidate + digit):
                return candidate + digit


async def register_company(client: httpx.AsyncClient, name: str, **profile: Any) -> dict[str, Any]:
    """A company with what invoices need (address, bank account); ``profile`` adds or
    overrides fields of the registration."""
    body = {
        "name": name,
        "org_number": org_number(),
        "address": {"street": "Tofteberg 1", "postcode": "1617", "city": "Fredrikstad"},
        "bank_account": bank_account(),
        **profile,
    }
    response = await client.post("/api/listings/companies/", json=body)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["headers"] = {"Authorization": f"Bearer {body['api_key']}"}
    return body


def stripe_signature(payload: bytes, secret: str, at: int | None = None) -> str:
    """``Stripe-Signature`` as Stripe computes it: HMAC-SHA256 of "<t>.<body>" with the secret."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def stripe_invoice_event(
    event_type: str,
    invoice_id: uuid.UUID | None,
    stripe_invoice_id: str = "in_1ViKenParkTest0001",
    event_id: str | None = None,
) -> bytes:
    """An event as Stripe sends it, with the invoice object it is about."""
    now = int(time.time())
    status = {
        "invoice.finalized": "open",
        "invoice.sent": "open",
        "invoice.paid": "paid",
        "invoice.payment_failed": "open",
        "invoice.voided": "void",
    }.get(event_type, "open")
    invoice = {
        "id": stripe_invoice_id,
        "object": "invoice",
        "currency": "nok",
        "amount_due": 625000,
        "collection_method": "send_invoice",
        "status": status,
        "status_transitions": {
            "finalized_at": now - 60,
            "paid_at": now if status == "paid" else None,
            "voided_at": now if status == "void" else None,
            "marked_uncollectible_at": None,
        },
        "metadata": {"invoice_id": str(invoice_id)} if invoice_id else {},
    }
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": invoice},
    }
    return json.dumps(event).encode()
