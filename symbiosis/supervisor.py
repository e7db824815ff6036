"""What `symbiosis up` does: start the servers, the services and the gateway, then watch."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console

from shared.auth import ensure_signing_keys
from shared.broker_admin import ADMIN, provision_exchange
from shared.db import ensure_database
from shared.settings import ENV_PREFIX, PORTAL, SERVICES, Settings
from symbiosis.broker.server import EmbeddedKafka
from symbiosis.embedded import (
    EmbeddedMailSink,
    EmbeddedPostgres,
    EmbeddedStartError,
    EmbeddedStripeMock,
    stripe_mock_binary,
    webhook_secret,
)
from symbiosis.processes import Child, PortInUse, check_port_free, kill_all, stop_all

# A step of the start: a title, and a way to say how it is going (downloads).
Step = Callable[[str], AbstractContextManager[Callable[[str], None]]]


class Supervisor:
    def __init__(self, settings: Settings, *, step: Step, console: Console) -> None:
        self.settings = settings
        self.step = step
        self.console = console
        self.children: list[Child] = []
        self._stopping = False
        self.mail_folder: Path | None = None
        self.readiness: dict[str, dict[str, Any]] = {}

    def run(self, *, demo: bool) -> int:
        from symbiosis.errors import UserError

        started = time.monotonic()
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            env = self._start_servers()
            self._start_services(env)
            keys = self._load_demo() if demo else None
            self._print_ready(time.monotonic() - started, keys)
            return self._watch()
        except (PortInUse, EmbeddedStartError) as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            return 0  # stopped as asked
        finally:
            self.console.print("Stopping...")
            stop_all(self.children)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.console.print("Stopped.")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            # A second Ctrl-C: no more waiting for a graceful stop.
            kill_all(self.children)
            sys.exit(130)
        self._stopping = True
        raise KeyboardInterrupt

    def _start_servers(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        ports = (
            [(s.http_host, s.http_port, "the gateway")]
            + [("127.0.0.1", s.service_port(name), f"the {name} service") for name in SERVICES]
            + [("127.0.0.1", s.portal_port, "the portal")]
        )
        if s.database_url is None:
            ports.append(("127.0.0.1", s.embedded_postgres_port, "the embedded PostgreSQL"))
        if s.kafka_bootstrap_servers is None:
            ports.append(("127.0.0.1", s.embedded_kafka_port, "the embedded Apache Kafka"))
            ports.append(
                ("127.0.0.1", s.embedded_kafka_controller_port, "the embedded Kafka controller")
            )
        kafka: EmbeddedKafka | None = None
        if s.kafka_bootstrap_servers is None:
            kafka = EmbeddedKafka(
                s.data_dir / "kafka",
                s.embedded_kafka_port,
                s.embedded_kafka_controller_port,
                s.keys_dir / "kafka",
                s.data_dir / "logs" / "kafka.log",
            )
            kafka.stop_leftover()
        if s.database_url is None:
            EmbeddedPostgres(s.data_dir, s.embedded_postgres_port).stop_leftover()
        for host, port, what in ports:
            check_port_free(host, port, what)

        if kafka is not None:
            fetching = not kafka.runtime.ready()
            title = (
                f"Fetching Apache Kafka {kafka.runtime.version} from Maven Central (first run only)"
                if fetching
                else "Starting Apache Kafka"
            )
            with self.step(title) as progress:
                kafka.runtime.ensure_libs(progress)
                # Started now, waited for below: the JVM starts while PostgreSQL does.
                self.children.append(kafka.launch())
        if s.database_url is None:
            with self.step(f"Starting PostgreSQL (embedded, data in {s.data_dir / 'postgres'})"):
                postgres = EmbeddedPostgres(s.data_dir, s.embedded_postgres_port)
                self.children.append(postgres.start())
                database_url = postgres.url
        else:
            database_url = s.database_url.get_secret_value()
        with self.step("Preparing the database"):
            asyncio.run(ensure_database(database_url))
        env[f"{ENV_PREFIX}DATABASE_URL"] = database_url

        if kafka is not None:
            with self.step(
                f"Apache Kafka ready (KRaft, SASL/SCRAM, log in {s.data_dir / 'kafka'}); "
                "topics, credentials and ACLs"
            ):
                kafka.wait_ready()
                asyncio.run(provision_exchange(kafka.admin_settings()))
            env[f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
            env[f"{ENV_PREFIX}KAFKA_CREDENTIALS_DIR"] = str(kafka.credentials)
            env.pop(f"{ENV_PREFIX}KAFKA_USERNAME", None)
            env.pop(f"{ENV_PREFIX}KAFKA_PASSWORD", None)
        elif s.kafka_credentials_dir is not None and (s.kafka_credentials_dir / ADMIN).exists():
            with self.step("Creating the topics, credentials and ACLs on the Kafka cluster"):
                asyncio.run(provision_exchange(s))
        if s.stripe_api_key is None:
            binary = stripe_mock_binary()
            if binary is None:
                self.console.print(
                    "[yellow]![/] No Stripe key and no stripe-mock: confirmed deliveries wait "
                    "in the invoice queue (`make stripe-mock` installs the mock with Go; or set "
                    f"{ENV_PREFIX}STRIPE_API_KEY)"
                )
            else:
                check_port_free("127.0.0.1", s.embedded_stripe_mock_port, "stripe-mock")
                with self.step("Starting stripe-mock (Stripe's mock API, for invoicing)"):
                    mock = EmbeddedStripeMock(binary, s.data_dir, s.embedded_stripe_mock_port)
                    self.children.append(mock.start())
                env[f"{ENV_PREFIX}STRIPE_API_KEY"] = "sk_test_embeddedstripemock"
                env[f"{ENV_PREFIX}STRIPE_API_BASE"] = mock.url
                if s.stripe_webhook_secret is None:
                    env[f"{ENV_PREFIX}STRIPE_WEBHOOK_SECRET"] = webhook_secret(s.data_dir)
        if s.smtp_host is None:
            check_port_free("127.0.0.1", s.embedded_smtp_port, "the mail sink")
            sink = EmbeddedMailSink(s.data_dir, s.embedded_smtp_port)
            with self.step(f"Starting the mail sink (e-mails kept in {s.data_dir / 'mail'})"):
                self.children.append(sink.start())
            env[f"{ENV_PREFIX}SMTP_HOST"] = "127.0.0.1"
            env[f"{ENV_PREFIX}SMTP_PORT"] = str(s.embedded_smtp_port)
            env[f"{ENV_PREFIX}SMTP_STARTTLS"] = "false"
            self.mail_folder = sink.folder
        with self.step("Creating the token-signing keys"):
            ensure_signing_keys(s)
        env[f"{ENV_PREFIX}DATA_DIR"] = str(s.data_dir.resolve())
        return env

    def _start_services(self, env: dict[str, str]) -> None:
        s = self.settings
        logs = s.data_dir.resolve() / "logs"
        exe = [sys.executable, "-m", "symbiosis"]
        with self.step(
            "Starting listings, matching, contracts, notifications, the portal and the gateway"
        ):
            for name in SERVICES:
                self.children.append(
                    Child.start(name, [*exe, "serve", name], logs / f"{name}.log", env=env)
                )
            self.children.append(
                Child.start(PORTAL, [*exe, "portal"], logs / f"{PORTAL}.log", env=env)
            )
            self.children.append(
                Child.start("gateway", [*exe, "gateway"], logs / "gateway.log", env=env)
            )
        with self.step("Waiting for migrations, topics and consumers") as progress:
            asyncio.run(self._wait_healthy(within=120, progress=progress))

    async def _wait_healthy(self, within: float, progress: Callable[[str], None]) -> None:
        deadline = time.monotonic() + within
        # The portal's health is at /health (every path outside /api/ is the portal's).
        paths = {name: f"/api/{name}/health" for name in SERVICES} | {PORTAL: "/health"}
        pending = dict.fromkeys(paths, "starting")
        async with httpx.AsyncClient(base_url=self.settings.gateway_url, timeout=3) as client:
            while pending:
                for child in self.children:
                    if not child.alive():
                        raise EmbeddedStartError(
                            f"{child.name} stopped while starting; its log ({child.log_path}) "
                            f"ends with:\n{child.tail()}"
                        )
                for name in list(pending):
                    try:
                        response = await client.get(paths[name])
                    except httpx.TransportError:
                        continue
                    if response.status_code == 200:
                        del pending[name]
                        self.readiness[name] = _body(response)
                    else:
                        pending[name] = unready_parts(_body(response)) or "starting"
                progress("; ".join(f"{name}: {why}" for name, why in pending.items()))
                if time.monotonic() > deadline:
                    raise EmbeddedStartError(
                        f"not ready after {within:.0f}s: "
                        + "; ".join(f"{name} ({why})" for name, why in pending.items())
                    )
                await asyncio.sleep(0.2)

    def _load_demo(self) -> dict[str, Any] | None:
        """Load (or finish loading) the demo; a failure is reported, and the exchange runs on."""
        from symbiosis.demo import DemoError, load_demo

        try:
            with self.step("Loading the Viken Park demo"):
                return asyncio.run(load_demo(self.settings))
        except (DemoError, httpx.HTTPError, OSError) as exc:
            reason = str(exc) or exc.__class__.__name__
            self.console.print(
                f"[bold red]✗[/] The Viken Park demo could not be loaded: {reason}\n"
                "  The exchange is running without the rest of it. What was loaded is kept: "
                "the next `symbiosis up --demo` (`make up`) finishes the load, and "
                "`symbiosis up --reset-demo` deletes this machine's data and loads the demo "
                "afresh.",
                soft_wrap=True,
            )
            return None

    def _print_ready(self, seconds: float, keys: dict[str, Any] | None) -> None:
        url = self.settings.gateway_url
        self.console.print(f"\n[bold green]Ready in {seconds:.1f} s[/] at [bold]{url}[/]\n")
        self.console.print(
            f"Open [bold]{url}/[/] in a browser and sign in with a person's e-mail and password.",
            soft_wrap=True,
        )
        if keys:
            self.console.print(
                "\nThe demo companies' administrators (e-mail / password, language):"
            )
            for company in keys["companies"]:
                admin = company.get("admin")
                who = (
                    f"{admin['email']} / {admin['password']} "
                    f"({'bokmål' if admin['language'] == 'nb' else 'English'})"
                    if admin
                    else "no person (loaded by an older version)"
                )
                self.console.print(f"  {company['name']}, {company['role']}: {who}", soft_wrap=True)
            park = keys["park_admin"]
            self.console.print(
                f"  The park administrator (dashboard): {park['email']} / {park['password']}",
                soft_wrap=True,
            )
            self.console.print(
                f"\nThe companies' API keys (Authorization: Bearer <key>) and these passwords "
                f"are kept in {keys['file']}",
                soft_wrap=True,
            )
        self.console.print("\nThe APIs, each with its OpenAPI description and readiness:")
        for name in SERVICES:
            self.console.print(
                f"  {name:<14} {url}/api/{name}/   (docs: {url}/api/{name}/schema/swagger)",
                soft_wrap=True,
            )
            self.console.print(
                f"  {'':<14} [dim]{url}/api/{name}/health: "
                f"{ready_summary(self.readiness.get(name, {}))}[/]",
                soft_wrap=True,
            )
        if self.mail_folder is not None:
            self.console.print(
                f"\nE-mail: nothing leaves this machine; every message is kept in "
                f"{self.mail_folder} as an .eml file (set {ENV_PREFIX}SMTP_HOST to send)",
                soft_wrap=True,
            )
        self.console.print(f"\nLogs: {self.settings.data_dir.resolve() / 'logs'}")
        self.console.print("\nPress Ctrl-C to stop.")

    def _watch(self) -> int:
        while True:
            for child in self.children:
                if not child.alive():
                    self.console.print(
                        f"[bold red]{child.name} stopped unexpectedly[/] (exit code "
                        f"{child.process.returncode}); its log ends with:\n{child.tail()}"
                    )
                    return 1
            time.sleep(0.5)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def unready_parts(body: dict[str, Any]) -> str:
    """What a service's /health says it is waiting for, in a few words."""
    parts = []
    for name, check in (body.get("checks") or {}).items():
        if check.get("ok"):
            continue
        if name == "consumers":
            waiting = sorted(
                {g["topic"].split(".")[0] for g in check.get("groups", []) if not g["joined"]}
            )
            parts.append("consumers joining (" + ", ".join(waiting) + ")")
        else:
            parts.append(f"{name}: {check.get('error') or check.get('relay') or 'not ready'}")
    return ", ".join(parts)


def ready_summary(body: dict[str, Any]) -> str:
    """One line of what a ready service's /health says."""
    checks = body.get("checks") or {}
    groups = checks.get("consumers", {}).get("groups", [])
    outbox = checks.get("outbox", {})
    return (
        f"{body.get('status', 'unknown')}; database {checks.get('database', {}).get('latency_ms')} "
        f"ms; {sum(g['joined'] for g in groups)}/{len(groups)} consumers joined; outbox "
        f"{outbox.get('unsent', '?')} unsent"
    )
