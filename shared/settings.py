"""Typed settings read once from the environment (prefix ``SYMBIOSIS_``): what every
process shares.

Each process loads only its own settings: a service's class (``services/<name>/config.py``)
adds what that service alone uses (the Stripe keys are contracts', the SMTP password
notifications', the token-signing key listings') to :class:`Settings`, what every service
needs (its database, Kafka, outbox, retention); the portal and the gateway add theirs to
:class:`ProcessSettings`. ``symbiosis up`` gives each child only the variables of its own
class (``symbiosis.config.environment_for``). ``docs/settings.md`` lists them all, per
process, generated from these classes.

Nothing set means the embedded defaults: ``symbiosis up`` starts PostgreSQL and Apache
Kafka itself and fills in ``database_url``, ``kafka_bootstrap_servers`` and the Kafka
credentials for the services it runs.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SYMBIOSIS_"
SERVICES = ("listings", "matching", "contracts", "notifications")
# The web portal: no database of its own, it calls the services' APIs; the gateway sends it
# every path that is not /api/...
PORTAL = "portal"
# The Kafka principal that makes topics, credentials and ACLs: cluster-wide, never namespaced.
KAFKA_ADMIN = "admin"


class ProcessSettings(BaseSettings):
    """What every process of the exchange reads: where its files are, how it logs, where
    the one origin is and which key verifies tokens."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(
        default=Path(".symbiosis"),
        description="Folder for embedded PostgreSQL data, signing keys and logs.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the gateway binds.")
    http_port: int = Field(default=8000, ge=1, le=65535, description="Port of the one origin.")
    public_url: str | None = Field(
        default=None,
        description="Address users reach the gateway at; default from host/port. An https "
        "address makes every portal cookie Secure and the portal send HSTS.",
    )
    auth_public_key_file: Path | None = Field(
        default=None,
        description="Ed25519 public PEM every service verifies tokens with.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level of log lines written, in every process."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="`json`: one JSON object per line (production); `console`: readable "
        "lines; `auto`: readable in a terminal, JSON otherwise (log files, containers).",
    )

    trusted_proxies: str | None = Field(
        default=None,
        description="Addresses and networks (comma-separated) of the proxies in front of "
        "this process whose X-Forwarded-For names the client: for the gateway, the load "
        "balancer or ingress in front of it (default: none, the client's header is never "
        "believed); for a service and the portal, the gateway (default: 127.0.0.1, where "
        "`up` runs it; in a cluster, the gateway pods' network). Sign-in throttling and the "
        "audit log see the address this gives.",
    )

    def forwarded_allow_ips(self, *, edge: bool) -> str | None:
        """Whom uvicorn believes X-Forwarded-For from; None: nobody."""
        if self.trusted_proxies is not None:
            return self.trusted_proxies.strip() or None
        return None if edge else "127.0.0.1"

    @cached_property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def public_key_path(self) -> Path:
        return self.auth_public_key_file or self.keys_dir / "token-signing.pub.pem"

    def service_port(self, service: str) -> int:
        """Local port of a service under `symbiosis up`: the ports after the gateway's."""
        return self.http_port + 1 + SERVICES.index(service)

    @property
    def portal_port(self) -> int:
        """Local port of the portal under `symbiosis up`: the one after the services'."""
        return self.http_port + 1 + len(SERVICES)

    @property
    def gateway_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"


class UpstreamSettings(ProcessSettings):
    """Where the services' APIs are: for the processes that call them (the gateway and the
    portal)."""

    service_urls: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Where the gateway finds each service, as JSON: "
            '{"listings": "http://listings:8000", ...}; default: local ports after http_port.'
        ),
    )

    def upstreams(self) -> dict[str, str]:
        return {
            name: self.service_urls.get(name, f"http://127.0.0.1:{self.service_port(name)}")
            for name in SERVICES
        }


class Settings(ProcessSettings):
    """What every service (listings, matching, contracts, notifications) reads: its
    database, Apache Kafka, the outbox and how long it keeps what it has done."""

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db); unset: embedded.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Kafka bootstrap servers (host:port,...); unset: the embedded Apache Kafka.",
    )
    kafka_idempotent_producer: bool = Field(
        default=True, description="Use Kafka's idempotent producer (with acks=all)."
    )
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT"] = Field(
        default="SASL_PLAINTEXT",
        description="How clients connect: SASL/SCRAM-SHA-512 over plain TCP or TLS; "
        "PLAINTEXT (no authentication) only for a cluster of your own that has none.",
    )
    kafka_username: str | None = Field(
        default=None,
        description="This process's Kafka principal; default: the namespace followed by the "
        "service's name (`listings`, ...), or `admin` for `symbiosis up` and `kafka-setup`.",
    )
    kafka_password: SecretStr | None = Field(
        default=None,
        description="This process's Kafka password; default: read from "
        "SYMBIOSIS_KAFKA_CREDENTIALS_DIR.",
    )
    kafka_credentials_dir: Path | None = Field(
        default=None,
        description="Folder with one password file per Kafka principal, named after it "
        "(`admin`, `listings`, `matching`, `contracts`, `notifications`), mode 0600; "
        "`symbiosis up` makes them in <data_dir>/keys/kafka on first start.",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="CA certificate that signed the broker's, for SASL_SSL.",
    )
    kafka_namespace: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description=(
            "Prefix of every topic and consumer group name, to share one cluster between "
            "environments (the tests use one per run). Empty in production."
        ),
    )
    kafka_topic_partitions: int = Field(default=3, ge=1, description="Partitions per topic.")
    kafka_replication_factor: int = Field(default=1, ge=1, description="Replicas per topic.")
    instance: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:-]{1,100}$",
        description="This process's name among the instances of its service (`symbiosis "
        "serve` makes it from the host name and port): its Kafka consumers are static group "
        "members under it, so that a restarted instance takes its partitions back at once "
        "instead of waiting for a rebalance.",
    )
    outbox_relay_enabled: bool = Field(
        default=True,
        description="Run the outbox relay inside the service (off to run relays elsewhere).",
    )
    outbox_poll_interval_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Fallback poll of the outbox when no NOTIFY arrives.",
    )
    outbox_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Outbox rows the relay sends at a time."
    )
    outbox_retention_days: float = Field(
        default=7, gt=0, description="Sent outbox rows are deleted after this many days."
    )
    kafka_log_retention_days: float = Field(
        default=7,
        gt=0,
        description="How long the broker keeps a topic's events (the embedded one keeps "
        "Kafka's default, 7 days): an event can come back to a consumer for that long.",
    )
    processed_event_retention_days: float = Field(
        default=30,
        gt=0,
        description="The ids of applied events are kept this long, to recognise an event "
        "that comes again; it must be longer than the broker keeps events and the outbox its "
        "rows.",
    )
    retention_check_seconds: float = Field(
        default=3600, gt=0, description="How often each service prunes what it keeps."
    )

    @model_validator(mode="after")
    def _ids_outlive_redeliveries(self) -> Settings:
        longest = max(self.kafka_log_retention_days, self.outbox_retention_days)
        if self.processed_event_retention_days <= longest:
            raise ValueError(
                f"{ENV_PREFIX}PROCESSED_EVENT_RETENTION_DAYS "
                f"({self.processed_event_retention_days}) must be longer than the broker keeps "
                f"events and the outbox its rows ({longest} days): an event that came again "
                "after its id was pruned would act twice"
            )
        return self

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise RuntimeError(
                f"{ENV_PREFIX}DATABASE_URL is not set; run `symbiosis up`, which starts "
                "the embedded PostgreSQL, or point it at a server."
            )
        return self.database_url.get_secret_value()

    def kafka_credentials(self, principal: str) -> tuple[str, str] | None:
        """The username and password this process signs in to Kafka with, as ``principal``
        (a service's name, or ``admin``); None for a PLAINTEXT cluster."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return None
        namespaced = principal if principal == KAFKA_ADMIN else self.kafka_namespace + principal
        username = self.kafka_username or namespaced
        if self.kafka_password is not None:
            return username, self.kafka_password.get_secret_value()
        if self.kafka_credentials_dir is None:
            raise RuntimeError(
                f"no Kafka password for {username}: set {ENV_PREFIX}KAFKA_PASSWORD or "
                f"{ENV_PREFIX}KAFKA_CREDENTIALS_DIR (`symbiosis up` sets them for its services)"
            )
        path = self.kafka_credentials_dir / principal
        try:
            return username, path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RuntimeError(
                f"cannot read the Kafka password of {username} from {path}: {exc.strerror}"
            ) from None

    def require_kafka(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError(
                f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS is not set; run `symbiosis up`, which "
                "starts the embedded Apache Kafka, or point it at a Kafka cluster."
            )
        return self.kafka_bootstrap_servers
