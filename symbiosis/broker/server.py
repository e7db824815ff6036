"""The embedded Apache Kafka: one node in KRaft mode (broker and controller), its log in a
folder of its own, SASL/SCRAM-SHA-512 on every listener, ACLs by KRaft's StandardAuthorizer,
listening on 127.0.0.1 only. ``symbiosis up``, the tests and CI all start it from here;
docker-compose.yml runs the official image with the same settings (infra/kafka/)."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shared.broker_admin import ADMIN, BrokerAdmin, ensure_password_files
from shared.settings import Settings
from symbiosis.broker.runtime import HERE, KafkaRuntime, Progress
from symbiosis.processes import Child, port_open

# Long enough for a slow machine's first start; the tests and CI wait as long.
START_TIMEOUT = 120.0

Jit = Literal["quick", "full"]
# The Java options of each way of compiling. `quick`: C1 alone (no C2 compiler threads
# burning a core while the broker starts) and the serial collector (no G1 threads): about
# half the CPU to start. `full`: the JVM's defaults, as a production broker runs.
JIT_OPTIONS: dict[Jit, tuple[str, ...]] = {
    "quick": ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"),
    "full": (),
}


class BrokerStartError(RuntimeError):
    """The broker did not start; the message says why and where its log is."""


def _jaas(username: str | None = None, password: str | None = None) -> str:
    if username is None or password is None:
        return "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{username}" password="{quoted}";'
    )


@dataclass(frozen=True)
class Listeners:
    """Where the broker listens: name -> (bound address, advertised address, protocol).
    ``internal`` is the services' listener (and the broker's own), ``controller`` the
    KRaft controller's."""

    listeners: dict[str, tuple[str, str | None, str]]
    controller_voter: str
    internal: str = "CLIENT"
    controller: str = "CONTROLLER"


def embedded_listeners(port: int, controller_port: int) -> Listeners:
    """``symbiosis up``, the tests and CI: everything on 127.0.0.1, SASL without TLS."""
    return Listeners(
        {
            "CLIENT": (f"127.0.0.1:{port}", f"127.0.0.1:{port}", "SASL_PLAINTEXT"),
            "CONTROLLER": (f"127.0.0.1:{controller_port}", None, "SASL_PLAINTEXT"),
        },
        controller_voter=f"127.0.0.1:{controller_port}",
    )


# docker-compose.yml: the services' listener inside compose's network, and partners' own
# listener with TLS, published on the host.
COMPOSE_LISTENERS = Listeners(
    {
        "CLIENT": ("0.0.0.0:9092", "kafka:9092", "SASL_PLAINTEXT"),
        "CONTROLLER": ("0.0.0.0:9093", None, "SASL_PLAINTEXT"),
        "PARTNER": ("0.0.0.0:9094", "localhost:9094", "SASL_SSL"),
    },
    controller_voter="kafka:9093",
)
COMPOSE_BROKER_PEM = "/run/secrets/kafka_broker_pem"


def server_properties(
    listeners: Listeners, data: str, admin_password: str, broker_pem: str = COMPOSE_BROKER_PEM
) -> dict[str, str]:
    """The broker's configuration, the same in every place it runs: only its listeners
    differ (``embedded_listeners``, ``COMPOSE_LISTENERS``)."""
    admin = _jaas(ADMIN, admin_password)
    names = listeners.listeners
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{listeners.controller_voter}",
        "listeners": ",".join(f"{name}://{bound}" for name, (bound, _, _) in names.items()),
        "advertised.listeners": ",".join(
            f"{name}://{advertised}" for name, (_, advertised, _) in names.items() if advertised
        ),
        "controller.listener.names": listeners.controller,
        "inter.broker.listener.name": listeners.internal,
        "listener.security.protocol.map": ",".join(
            f"{name}:{protocol}" for name, (_, _, protocol) in names.items()
        ),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "SCRAM-SHA-512",
    }
    for name in names:
        own = name in (listeners.internal, listeners.controller)
        properties[f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config"] = (
            admin if own else _jaas()
        )
        if names[name][2] == "SASL_SSL":
            properties[f"listener.name.{name.lower()}.ssl.keystore.type"] = "PEM"
            properties[f"listener.name.{name.lower()}.ssl.keystore.location"] = broker_pem
    properties |= {
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN}",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": data,
        "num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
    }
    return properties


def compose_properties() -> str:
    """infra/kafka/server.properties, which docker-compose.yml's Kafka runs with (its start
    script puts the admin's password in place of the marker)."""
    properties = server_properties(COMPOSE_LISTENERS, "/var/lib/kafka/data", "@ADMIN_PASSWORD@")
    lines = [
        "# Generated by `symbiosis docs` from symbiosis/broker/server.py: the embedded broker's",
        "# configuration with compose's listeners. Do not edit; infra/kafka/start.sh fills in",
        "# the admin's password from its secret.",
    ]
    return "\n".join([*lines, *(f"{key}={value}" for key, value in properties.items())]) + "\n"


def cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64, as Kafka writes them, and as
    Kafka makes them never starting with a dash (its tools would read it as an option)."""
    while True:
        made = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not made.startswith("-"):
            return made


class EmbeddedKafka:
    """Apache Kafka as a child process, its log and configuration in ``folder``."""

    def __init__(
        self,
        folder: Path,
        port: int,
        controller_port: int,
        credentials: Path,
        log_path: Path,
        runtime: KafkaRuntime | None = None,
        *,
        listeners: Listeners | None = None,
        broker_pem: Path | None = None,
        jit: Jit = "quick",
    ) -> None:
        self.folder = folder.resolve()
        self.port = port
        self.controller_port = controller_port
        self.credentials = credentials.resolve()
        self.log_path = log_path.resolve()
        self.runtime = runtime or KafkaRuntime()
        self.listeners = listeners or embedded_listeners(port, controller_port)
        self.broker_pem = broker_pem
        self.jit = jit
        self.child: Child | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def admin_settings(self, namespace: str = "") -> Settings:
        """Settings for clients of this broker, signing in with the passwords in
        ``credentials`` (the admin's, and each service's once provisioned)."""
        return Settings(
            kafka_bootstrap_servers=self.bootstrap_servers,
            kafka_credentials_dir=self.credentials,
            kafka_namespace=namespace,
        )

    def _java(self, *args: str, jit: Jit | None = None) -> list[str]:
        return [
            str(self.runtime.java),
            *JIT_OPTIONS[jit or self.jit],
            "-Xms128m",
            "-Xmx512m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={HERE / 'log4j2.yaml'}",
            "-cp",
            f"{self.runtime.libs}/*",
            *args,
        ]

    def start(self, progress: Progress | None = None) -> Child:
        """Start the broker and wait until it answers its admin."""
        self.runtime.ensure_libs(progress)
        child = self.launch()
        self.wait_ready()
        return child

    def launch(self) -> Child:
        """Start the broker (its jars already fetched) without waiting for it."""
        admin_password = ensure_password_files(self.credentials, [ADMIN])[ADMIN]
        data = self.folder / "data"
        config = self.folder / "server.properties"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        properties = server_properties(
            self.listeners,
            str(data),
            admin_password,
            **({"broker_pem": str(self.broker_pem)} if self.broker_pem else {}),
        )
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in properties.items())
        if not (data / "meta.properties").exists():
            self._format(config, data, admin_password)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.child = Child.start(
            "kafka", self._java("kafka.Kafka", str(config)), self.log_path, cwd=self.folder
        )
        (self.folder / "kafka.pid").write_text(str(self.child.process.pid))
        return self.child

    def stop_leftover(self, grace: float = 30.0) -> None:
        """A broker left running on this folder by a run that was killed is stopped first
        (it lets go of its log and its ports in a controlled shutdown)."""
        pid_file = self.folder / "kafka.pid"
        try:
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return
        if "kafka.Kafka" not in cmdline or str(self.folder) not in cmdline:
            return  # the pid is another process's now
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)

    def _format(self, config: Path, data: Path, admin_password: str) -> None:
        """Format the log folder, with the admin's SCRAM credentials in the first metadata
        (a start cut off half-way is formatted afresh: there was nothing in it yet)."""
        if data.exists():
            import shutil

            shutil.rmtree(data)
        scram = f"SCRAM-SHA-512=[name={ADMIN},password={admin_password}]"
        result = subprocess.run(  # noqa: S603 - argv built here
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--config",
                str(config),
                "--cluster-id",
                cluster_id(),
                "--add-scram",
                scram,
                jit="quick",  # a tool that runs for a second: C2 would only cost a core
            ),
            capture_output=True,  # it echoes the bootstrap records, credentials included
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).splitlines()[-15:])
            raise BrokerStartError(f"formatting the Kafka log folder {data} failed:\n{tail}")

    def wait_ready(self) -> None:
        """Until the broker listens and its admin is answered; say why when it does not."""
        assert self.child is not None
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open("127.0.0.1", self.port):
            if not self.child.alive():
                raise BrokerStartError(
                    f"Apache Kafka exited at start; its log ({self.log_path}):\n"
                    + self.child.tail()
                )
            if time.monotonic() > deadline:
                raise BrokerStartError(f"Apache Kafka did not listen within {START_TIMEOUT:.0f}s")
            time.sleep(0.1)
        admin = BrokerAdmin(self.admin_settings())
        asyncio.run(admin.wait_until_ready(within=max(1.0, deadline - time.monotonic())))
