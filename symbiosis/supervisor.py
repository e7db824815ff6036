"""What `symbiosis up` does: start the servers, the services and the gateway, then watch."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console

from services.contracts.config import ContractsSettings
from services.listings.config import ListingsSettings
from services.notifications.config import NotificationsSettings
from shared.auth import ensure_signing_keys
from shared.broker_admin import ADMIN, ensure_password_files, provision_exchange
from shared.db import ensure_database
from shared.settings import ENV_PREFIX, PORTAL, SERVICES
from symbiosis.broker.server import EmbeddedKafka
from symbiosis.config import StackSettings, environment_for
from symbiosis.embedded import (
    EmbeddedMailSink,
    EmbeddedPostgres,
    EmbeddedStartError,
    EmbeddedStripeMock,
    stripe_mock_binary,
    webhook_secret,
)
from symbiosis.processes import Child, PortInUse, check_port_free, kill_all, stop_all

# A child that died this many times within two minutes is reported as one that keeps dying.
KEEPS_DYING = 5
LONGEST_PAUSE = 30.0

# A step of the start: a title, and a way to say how it is going (downloads).
Step = Callable[[str], AbstractContextManager[Callable[[str], None]]]


class Supervisor:
    def __init__(self, settings: StackSettings, *, step: Step, console: Console) -> None:
        self.settings = settings
        self.step = step
        self.console = console
        self.children: list[Child] = []
        self._stopping = False
        self.mail_folder: Path | None = None
        self.readiness: dict[str, dict[str, Any]] = {}
        # How to start each child again when it dies.
        self.restart: dict[str, Callable[[], Child]] = {}
        self.first_service = 0

    def run(self, *, demo: bool) -> int:
        from symbiosis.errors import UserError

        started = time.monotonic()
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            env, waits = self._start_servers()
            self._start_services(env)
            for wait in waits:
                wait()
            with self.step("Waiting for migrations, topics and consumers") as progress:
                asyncio.run(self._wait_healthy(within=120, progress=progress))
            keys = self._load_demo() if demo else None
            self._print_ready(time.monotonic() - started, keys)
            return self._watch()
        except (PortInUse, EmbeddedStartError) as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            return 0  # stopped as asked
        finally:
            self.console.print("Stopping...")
            # The services first, while the database and the broker are still there for
            # them to close their sessions and leave their groups; then the servers.
            stop_all(self.children[self.first_service :])
            stop_all(self.children[: self.first_service])
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.console.print("Stopped.")

    def _keep(self, child: Child, restart: Callable[[], Child]) -> None:
        """Watch ``child``; when it dies, ``restart`` starts it again."""
        self.children.append(child)
        self.restart[child.name] = restart

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            # A second Ctrl-C: no more waiting for a graceful stop.
            kill_all(self.children)
            sys.exit(130)
        self._stopping = True
        raise KeyboardInterrupt

    def _start_servers(self) -> tuple[dict[str, str], list[Callable[[], None]]]:
        """Start the servers; the environment of the services, and what to wait for before
        they can be ready (the broker, stripe-mock and the mail sink start side by side
        with the services, which wait for them)."""
        s = self.settings
        # What `up` must know of two services' settings: whether Stripe and a mail server
        # are configured (if not, it starts stripe-mock and the mail sink).
        contracts = ContractsSettings()
        stripe_api_key, stripe_webhook_secret = (
            contracts.stripe_api_key,
            contracts.stripe_webhook_secret,
        )
        smtp_host = NotificationsSettings().smtp_host
        env = dict(os.environ)
        waits: list[Callable[[], None]] = []
        ports = (
            [(s.http_host, s.http_port, "the gateway")]
            + [("127.0.0.1", s.service_port(name), f"the {name} service") for name in SERVICES]
            + [("127.0.0.1", s.portal_port, "the portal")]
        )
        if s.database_url is None:
            ports.append(("127.0.0.1", s.embedded_postgres_port, "the embedded PostgreSQL"))
        kafka: EmbeddedKafka | None = None
        if s.kafka_bootstrap_servers is None:
            ports.append(("127.0.0.1", s.embedded_kafka_port, "the embedded Apache Kafka"))
            ports.append(
                ("127.0.0.1", s.embedded_kafka_controller_port, "the embedded Kafka controller")
            )
            kafka = EmbeddedKafka(
                s.data_dir / "kafka",
                s.embedded_kafka_port,
                s.embedded_kafka_controller_port,
                s.keys_dir / "kafka",
                s.data_dir / "logs" / "kafka.log",
                jit=s.embedded_kafka_jit,
            )
            kafka.stop_leftover()
        mock_binary = stripe_mock_binary() if stripe_api_key is None else None
        if mock_binary is not None:
            ports.append(("127.0.0.1", s.embedded_stripe_mock_port, "stripe-mock"))
        if smtp_host is None:
            ports.append(("127.0.0.1", s.embedded_smtp_port, "the mail sink"))
        if s.database_url is None:
            EmbeddedPostgres(s.data_dir, s.embedded_postgres_port).stop_leftover()
        for host, port, what in ports:
            check_port_free(host, port, what)

        if kafka is not None:
            title = (
                "Starting Apache Kafka"
                if kafka.runtime.ready()
                else f"Fetching Apache Kafka {kafka.runtime.version} from Maven Central "
                "(first run only)"
            )
            with self.step(title) as progress:
                kafka.runtime.ensure_libs(progress)
                # Waited for below: the JVM starts while the rest does.
                self._keep(kafka.launch(), kafka.start)
            env[f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
            env[f"{ENV_PREFIX}KAFKA_CREDENTIALS_DIR"] = str(kafka.credentials)
            env.pop(f"{ENV_PREFIX}KAFKA_USERNAME", None)
            env.pop(f"{ENV_PREFIX}KAFKA_PASSWORD", None)
            ensure_password_files(kafka.credentials, SERVICES)  # each service reads its own
            admin = kafka.admin_settings()

            def kafka_ready() -> None:
                with self.step(
                    f"Apache Kafka ready (KRaft, SASL/SCRAM, log in {s.data_dir / 'kafka'}); "
                    "topics, credentials and ACLs"
                ):
                    kafka.wait_ready()
                    asyncio.run(provision_exchange(admin))

            waits.append(kafka_ready)
        elif s.kafka_credentials_dir is not None and (s.kafka_credentials_dir / ADMIN).exists():
            with self.step("Creating the topics, credentials and ACLs on the Kafka cluster"):
                asyncio.run(provision_exchange(s))
        if s.database_url is None:
            with self.step(f"Starting PostgreSQL (embedded, data in {s.data_dir / 'postgres'})"):
                postgres = EmbeddedPostgres(s.data_dir, s.embedded_postgres_port)
                self._keep(postgres.start(), postgres.start)
                database_url = postgres.url
        else:
            database_url = s.database_url.get_secret_value()
        with self.step("Preparing the database"):
            asyncio.run(ensure_database(database_url))
        env[f"{ENV_PREFIX}DATABASE_URL"] = database_url

        if stripe_api_key is None and mock_binary is None:
            self.console.print(
                "[yellow]![/] No Stripe key and no stripe-mock: confirmed deliveries wait "
                "in the invoice queue (`make stripe-mock` installs the mock with Go; or set "
                f"{ENV_PREFIX}STRIPE_API_KEY)"
            )
        elif mock_binary is not None:
            mock = EmbeddedStripeMock(mock_binary, s.data_dir, s.embedded_stripe_mock_port)
            mock_child = mock.launch()
            self._keep(mock_child, mock.start)

            def mock_ready() -> None:
                with self.step("stripe-mock ready (Stripe's mock API, for invoicing)"):
                    mock.ready(mock_child)

            waits.append(mock_ready)
            env[f"{ENV_PREFIX}STRIPE_API_KEY"] = "sk_test_embeddedstripemock"
            env[f"{ENV_PREFIX}STRIPE_API_BASE"] = mock.url
            if stripe_webhook_secret is None:
                env[f"{ENV_PREFIX}STRIPE_WEBHOOK_SECRET"] = webhook_secret(s.data_dir)
        if smtp_host is None:
            sink = EmbeddedMailSink(s.data_dir, s.embedded_smtp_port)
            sink_child = sink.launch()
            self._keep(sink_child, sink.start)

            def sink_ready() -> None:
                with self.step(f"Mail sink ready (e-mails kept in {s.data_dir / 'mail'})"):
                    sink.ready(sink_child)

            waits.append(sink_ready)
            env[f"{ENV_PREFIX}SMTP_HOST"] = "127.0.0.1"
            env[f"{ENV_PREFIX}SMTP_PORT"] = str(s.embedded_smtp_port)
            env[f"{ENV_PREFIX}SMTP_STARTTLS"] = "false"
            self.mail_folder = sink.folder
        with self.step("Creating the token-signing keys"):
            ensure_signing_keys(ListingsSettings(data_dir=s.data_dir))
        env[f"{ENV_PREFIX}DATA_DIR"] = str(s.data_dir.resolve())
        return env, waits

    def _start_services(self, env: dict[str, str]) -> None:
        s = self.settings
        self.first_service = len(self.children)
        logs = s.data_dir.resolve() / "logs"
        exe = [sys.executable, "-m", "symbiosis"]
        with self.step(
            "Starting listings, matching, contracts, notifications, the portal and the gateway"
        ):
            commands = {name: ["serve", name] for name in SERVICES}
            commands |= {PORTAL: ["portal"], "gateway": ["gateway"]}
            for name, command in commands.items():
                start = functools.partial(
                    Child.start,
                    name,
                    [*exe, *command],
                    logs / f"{name}.log",
                    env=environment_for(name, env),
                )
                self._keep(start(), start)

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
        """Until Ctrl-C: a child that dies is started again, after 1 s, then after a pause
        that doubles (to 30 s) while it keeps dying within two minutes."""
        deaths: dict[str, list[float]] = defaultdict(list)
        due: dict[str, float] = {}
        while True:
            now = time.monotonic()
            for index, child in enumerate(self.children):
                if child.alive():
                    continue
                if child.name not in due:
                    deaths[child.name] = [t for t in deaths[child.name] if now - t < 120]
                    deaths[child.name].append(now)
                    count = len(deaths[child.name])
                    pause = min(LONGEST_PAUSE, 2.0 ** (count - 1))
                    due[child.name] = now + pause
                    self._report_death(child, count, pause)
                elif now >= due[child.name]:
                    del due[child.name]
                    try:
                        self.children[index] = self.restart[child.name]()
                    except Exception as exc:  # it will be tried again, after a pause
                        self.console.print(
                            f"[bold red]{child.name} could not be started again:[/] {exc}",
                            soft_wrap=True,
                        )
                        continue
                    self.console.print(f"[green]✓[/] {child.name} is running again", soft_wrap=True)
            time.sleep(0.5)

    def _report_death(self, child: Child, count: int, pause: float) -> None:
        code = child.process.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if count >= KEEPS_DYING:
            self.console.print(
                f"[bold red]{child.name} keeps dying[/] ({count} times in two minutes, {how}); "
                f"trying again in {pause:.0f} s. Its log ({child.log_path}) ends with:\n"
                f"{child.tail()}",
                soft_wrap=True,
            )
        else:
            self.console.print(
                f"[bold yellow]{child.name} stopped unexpectedly[/] ({how}); starting it again in "
                f"{pause:.0f} s. Its log ({child.log_path}) ends with:\n{child.tail(8)}",
                soft_wrap=True,
            )


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
