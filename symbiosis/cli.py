"""The ``symbiosis`` command."""

from __future__ import annotations

import fcntl
import importlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.listings.config import ListingsSettings
from shared.settings import ENV_PREFIX, SERVICES, ProcessSettings, Settings
from symbiosis.config import SETTINGS_OF, GatewaySettings, StackSettings
from symbiosis.errors import UserError

app = typer.Typer(
    help="The Viken Park symbiosis exchange: run it, serve one service, load the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

APP_FACTORIES = {name: f"services.{name}.app:create_app" for name in SERVICES}


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


def _configure_logging(settings: ProcessSettings, process: str) -> None:
    from shared.logs import configure_logging
    from shared.observability import configure_tracing

    configure_logging(settings.log_level, settings.log_format, process=process)
    configure_tracing(process)


def server_options(settings: ProcessSettings, *, edge: bool = False) -> dict[str, Any]:
    """uvicorn's options for a process: X-Forwarded-For is believed only from the proxies
    in front of it (``SYMBIOSIS_TRUSTED_PROXIES``); at the ``edge`` (the gateway) by default
    from nobody, so a client cannot say who it is."""
    from symbiosis.gateway import SERVICE_KEEP_ALIVE_SECONDS

    trusted = settings.forwarded_allow_ips(edge=edge)
    return {
        "log_config": None,  # logging is ours (shared.logs): uvicorn's handlers would bypass it
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": trusted is not None,
        "forwarded_allow_ips": trusted,
        "timeout_graceful_shutdown": 5,
        # Behind the gateway, idle connections stay open longer than the gateway keeps them,
        # so that it never sends a request on one the service is closing.
        "timeout_keep_alive": 5 if edge else SERVICE_KEEP_ALIVE_SECONDS,
    }


def _run(app: Any, host: str, port: int, settings: ProcessSettings, *, edge: bool = False) -> None:
    """Serve an ASGI app with uvicorn, its lines in our log format and our access log, each
    request in its span with its correlation id (shared.observability)."""
    import uvicorn

    from shared.logs import AccessLog
    from shared.observability import Observed, route_of
    from symbiosis.gateway import route_at_edge

    # main() restores SIGPIPE's default for the commands whose output may go to `head`; a
    # server must ignore it, or a client that hangs up before its answer is written (a
    # gateway cutting off an oversized body) kills the whole process.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    uvicorn.run(
        Observed(AccessLog(app), routes=route_at_edge if edge else route_of),
        host=host,
        port=port,
        **server_options(settings, edge=edge),
    )


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port; default: its port under `up`.")] = None,
) -> None:
    """Run one service (HTTP API, Kafka consumers and outbox relay) in this process."""
    if service not in APP_FACTORIES:
        raise _fail(f"unknown service {service!r}; choose one of: {', '.join(SERVICES)}")
    chosen_port = port or ProcessSettings().service_port(service)
    os.environ.setdefault(f"{ENV_PREFIX}INSTANCE", f"{socket.gethostname()}-{chosen_port}")
    settings = SETTINGS_OF[service]()  # the service's own settings, and no other's
    _configure_logging(settings, service)
    if isinstance(settings, ListingsSettings):
        from shared.auth import ensure_signing_keys

        ensure_signing_keys(settings)
    elif not settings.public_key_path.exists():
        raise _fail(
            f"no token public key at {settings.public_key_path}; run `symbiosis keys` or "
            f"set {ENV_PREFIX}AUTH_PUBLIC_KEY_FILE"
        )
    module_name, factory_name = APP_FACTORIES[service].split(":")
    factory: Callable[[Any], Any] = getattr(importlib.import_module(module_name), factory_name)
    _run(factory(settings), host, chosen_port, settings)


@app.command()
def gateway(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
) -> None:
    """Serve every service's API on one origin: /api/<service>/..."""
    from symbiosis.gateway import Gateway

    settings = GatewaySettings()
    _configure_logging(settings, "gateway")
    _run(
        Gateway(settings.upstreams(), portal=settings.portal_upstream),
        host or settings.http_host,
        port or settings.http_port,
        settings,
        edge=True,
    )


@app.command()
def portal(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port; default: its port under `up`.")] = None,
) -> None:
    """Run the web portal (pages for companies, on the services' APIs) in this process."""
    from services.portal.app import create_app
    from services.portal.config import PortalSettings

    settings = PortalSettings()
    _configure_logging(settings, "portal")
    _run(create_app(settings), host, port or settings.portal_port, settings)


@app.command()
def keys() -> None:
    """Create the token-signing key pair if it does not exist yet."""
    from shared.auth import ensure_signing_keys

    settings = ListingsSettings()
    ensure_signing_keys(settings)
    console.print(
        f"private key: {settings.private_key_path}\npublic key:  {settings.public_key_path}"
    )


@app.command()
def docs(
    check: Annotated[
        bool, typer.Option("--check", help="Only check that docs/ is up to date.")
    ] = False,
    root: Annotated[Path, typer.Option(help="Repository root.")] = Path(),
) -> None:
    """Write the generated contract (AsyncAPI, JSON Schema, OpenAPI) under docs/."""
    from symbiosis.contract_docs import generate

    stale = []
    for relative, text in generate().items():
        path = root / relative
        if path.exists() and path.read_text() == text:
            continue
        stale.append(str(relative))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if check and stale:
        raise _fail("generated docs are out of date: " + ", ".join(stale) + "; run `make docs`")
    console.print("docs/ is up to date" if not stale else f"wrote {len(stale)} file(s)")


class JitChoice(StrEnum):
    """How the embedded broker's Java compiles (symbiosis.broker.server.JIT_OPTIONS)."""

    quick = "quick"
    full = "full"


@app.command()
def kafka(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Folder for the broker's log and configuration.")
    ],
    port: Annotated[int, typer.Option(help="Client port on 127.0.0.1.")] = 19092,
    controller_port: Annotated[
        int | None, typer.Option(help="KRaft controller port; default: the next one.")
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(help="Folder for the admin's password; default: DATA_DIR/credentials."),
    ] = None,
    jit: Annotated[
        JitChoice,
        typer.Option(
            help="How Java compiles: quick (C1 only, serial GC: about half the CPU to start, "
            "as `symbiosis up` runs it by default) or full (the JVM's defaults, as a "
            "production broker runs).",
        ),
    ] = JitChoice.quick,
) -> None:
    """Run the embedded Apache Kafka (KRaft, SASL/SCRAM, ACLs) in the foreground, as
    `symbiosis up` runs it; for CI and for trying a cluster by hand. Prints one line when
    it is ready; Ctrl-C stops it."""
    from symbiosis.broker.runtime import RuntimeProblem
    from symbiosis.broker.server import BrokerStartError, EmbeddedKafka

    broker = EmbeddedKafka(
        data_dir / "kafka",
        port,
        controller_port or port + 1,
        credentials or data_dir / "credentials",
        data_dir / "kafka.log",
        jit="full" if jit is JitChoice.full else "quick",
    )
    try:
        with _step(f"Apache Kafka {broker.runtime.version} (jars from Maven Central)") as news:
            child = broker.start(news)
    except (RuntimeProblem, BrokerStartError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"Apache Kafka is ready on {broker.bootstrap_servers} (SASL_PLAINTEXT, SCRAM-SHA-512); "
        f"the admin's password is in {broker.credentials / 'admin'}; log: {broker.log_path}",
        soft_wrap=True,
    )
    try:
        code = child.process.wait()
    except KeyboardInterrupt:
        child.stop()
        child.wait(30)
        code = 0
    raise typer.Exit(code=code)


@app.command("kafka-setup")
def kafka_setup() -> None:
    """Create the exchange's topics, one principal per service and their ACLs on the Kafka
    cluster of SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS, signing in as `admin` with the password in
    SYMBIOSIS_KAFKA_CREDENTIALS_DIR/admin; the services' passwords are made in that folder
    on first use (each service reads its own). Safe to repeat."""
    import asyncio

    from shared.broker_admin import BrokerAdminError, provision_exchange

    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        raise _fail(f"set {ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS to the cluster to set up")
    try:
        asyncio.run(provision_exchange(settings))
    except (BrokerAdminError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"Kafka cluster {settings.kafka_bootstrap_servers} is set up for the exchange")


@app.command("kafka-jars")
def kafka_jars(
    pin: Annotated[
        bool,
        typer.Option("--pin", help="Pin what Maven fetches (after changing a version)."),
    ] = False,
) -> None:
    """Fetch Apache Kafka's jars from Maven Central into .venv and check them against the
    pinned SHA-256 list (symbiosis/broker/jars.sha256); --pin rewrites that list."""
    from symbiosis.broker.runtime import CHECKSUMS, KafkaRuntime, RuntimeProblem

    runtime = KafkaRuntime()
    try:
        with _step(f"Apache Kafka {runtime.version} from Maven Central") as news:
            if pin:
                runtime.write_checksums(news)
            else:
                runtime.ensure_libs(news)
    except RuntimeProblem as exc:
        raise _fail(str(exc)) from None
    console.print(f"pinned in {CHECKSUMS}" if pin else f"verified in {runtime.libs}")


@app.command("create-park-admin")
def create_park_admin(
    email: Annotated[str, typer.Option(help="E-mail the administrator signs in with.")],
    name: Annotated[str, typer.Option(help="The administrator's name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a park administrator (the first one, or another). Asks for the password.

    Uses SYMBIOSIS_DATABASE_URL, or the embedded PostgreSQL of a running `symbiosis up`.
    """
    import asyncio

    from pydantic import EmailStr as _EmailStr
    from pydantic import TypeAdapter, ValidationError

    from services.listings.domain import password as check_password
    from symbiosis.admins import create_park_admin as add_park_admin

    try:
        address = TypeAdapter(_EmailStr).validate_python(email)
    except ValidationError:
        raise _fail(f"{email!r} is not an e-mail address") from None
    if password_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(secret)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings = StackSettings()
    try:
        person_id = asyncio.run(add_park_admin(settings, address, name.strip(), secret))
    except UserError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"Park administrator {address} created ({person_id}); sign in at "
        f"{settings.gateway_url}/api/listings/auth/token"
    )


@contextmanager
def _step(title: str) -> Iterator[Callable[[str], None]]:
    started = time.monotonic()
    with console.status(f"{title}...") as status:
        yield lambda news: status.update(f"{title}: {news}")
    console.print(f"[green]✓[/] {title} [dim]({time.monotonic() - started:.1f} s)[/]")


@contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One `symbiosis up` per data folder; the kernel drops the lock if we die."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = (data_dir / "up.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(
            f"another `symbiosis up` is already running on {data_dir.resolve()}; stop it first"
        ) from None
    try:
        yield
    finally:
        handle.close()


def _confirm_reset(paths: list[Path], yes: bool) -> None:
    """Ask before deleting; without a terminal to ask on, only --yes goes ahead."""
    listing = "\n".join(f"  {path}" for path in paths) or "  (nothing yet)"
    console.print(f"--reset-demo deletes this machine's exchange data:\n{listing}")
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("--reset-demo asks before it deletes; answer in a terminal, or add --yes")
    if not typer.confirm("Delete it and load the demo afresh?", default=False):
        raise UserError("nothing was deleted")


@app.command()
def up(
    demo: Annotated[bool, typer.Option("--demo", help="Load the Viken Park demo park.")] = False,
    reset_demo: Annotated[
        bool,
        typer.Option(
            "--reset-demo",
            help="Delete the embedded data (database, events, demo sign-ins, kept e-mails) "
            "and load the demo afresh; asks first.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before --reset-demo deletes.")
    ] = False,
) -> None:
    """Start everything on this machine: database, broker, services and gateway.

    With nothing configured it starts the embedded PostgreSQL (data kept in
    SYMBIOSIS_DATA_DIR, default ./.symbiosis) and the embedded broker. Set
    SYMBIOSIS_DATABASE_URL and SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS to use real servers.
    A demo load that was interrupted is finished by the next `up --demo`.
    Ctrl-C stops everything it started.
    """
    from symbiosis.embedded import embedded_data, remove_embedded_data
    from symbiosis.supervisor import Supervisor

    settings = StackSettings()
    _configure_logging(settings, "symbiosis")
    try:
        with _exclusive(settings.data_dir):
            if reset_demo:
                _confirm_reset(embedded_data(settings), yes)
                remove_embedded_data(settings)
            supervisor = Supervisor(settings, step=_step, console=console)
            code = supervisor.run(demo=demo or reset_demo)
    except UserError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code=code)


@app.command()
def optimize(
    park_file: Annotated[
        Path, typer.Argument(help="The park as JSON (schema: docs/park.schema.json).")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the plan as JSON; default: PARK.plan.json beside the park file.",
        ),
    ] = None,
) -> None:
    """Find the park-wide best set of exchanges for a park described in a JSON file.

    Prints the plan as a table, beside the greedy pairwise baseline, with the solver's gap
    and time, and writes the whole plan as JSON.
    """
    from pydantic import ValidationError

    from services.matching.park import Park, PlanReport

    try:
        text = park_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {park_file}: {exc.strerror}") from None
    try:
        park = Park.model_validate_json(text)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        ]
        raise _fail(f"{park_file} is not a valid park:\n" + "\n".join(lines)) from None
    report = PlanReport.of(park.optimise())
    unit = "kg CO2e" if report.objective == "co2e" else "NOK"
    table = Table(title=f"{park.name}: {len(report.plan.flows)} exchanges")
    for column in ("Offer", "Need", "Quantity", "Surplus NOK", "CO2e net kg"):
        table.add_column(column, justify="right" if column[0] in "QSC" else "left")
    for flow in report.plan.flows:
        table.add_row(
            flow.offer,
            flow.need,
            f"{flow.quantity:,.3f} {flow.unit}",
            f"{flow.surplus_nok:,.0f}",
            f"{flow.co2e_net_kg:,.0f}" if flow.co2e_estimated else "not estimated",
        )
    console.print(table)
    gap = "n/a" if report.gap is None else f"{report.gap:.2%}"
    console.print(
        f"Objective ({report.objective}): {report.plan.objective:,.2f} {unit}; "
        f"greedy pairwise: {report.greedy.objective:,.2f} {unit}; "
        f"better by {report.improvement:,.2f} {unit}.\n"
        f"Solver: {report.status}, gap {gap}, {report.solve_seconds:.3f} s, "
        f"{report.links} links, {report.binaries} binary variables."
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    target = output or park_file.with_suffix(".plan.json")
    try:
        target.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {target}: {exc.strerror}") from None
    console.print(f"Plan written to {target}")


def main() -> None:
    """Entry point of the console script."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


__all__ = ["Table", "UserError", "app", "main"]
