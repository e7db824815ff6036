"""Typed settings read once from the environment (prefix ``SYMBIOSIS_``).

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


class Settings(BaseSettings):
    """Configuration of every service and of the ``symbiosis`` command."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path(".symbiosis"),
        description="Folder for embedded PostgreSQL data, signing keys and logs.",
    )
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
    kafka_partner_bootstrap_servers: str | None = Field(
        default=None,
        description="Where partners connect (their listener: SASL_SSL in compose); "
        "default: the services' bootstrap servers.",
    )
    kafka_partner_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        default=None,
        description="How partners connect; default: as the services do.",
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
    http_host: str = Field(default="127.0.0.1", description="Address the gateway binds.")
    http_port: int = Field(default=8000, ge=1, le=65535, description="Port of the one origin.")
    embedded_postgres_port: int = Field(
        default=15432, ge=1, le=65535, description="Port of the embedded PostgreSQL."
    )
    embedded_kafka_port: int = Field(
        default=19092, ge=1, le=65535, description="Port of the embedded Apache Kafka (127.0.0.1)."
    )
    embedded_kafka_controller_port: int = Field(
        default=19093,
        ge=1,
        le=65535,
        description="Port of the embedded broker's KRaft controller (internal, 127.0.0.1).",
    )
    embedded_smtp_port: int = Field(
        default=12525,
        ge=1,
        le=65535,
        description="Port of the embedded mail sink (when no SMTP host is set).",
    )
    embedded_stripe_mock_port: int = Field(
        default=12111,
        ge=1,
        le=65535,
        description="Port of stripe-mock, which `symbiosis up` starts when no Stripe key is "
        "set and the stripe-mock binary is installed (`make stripe-mock`).",
    )
    service_urls: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Where the gateway finds each service, as JSON: "
            '{"listings": "http://listings:8000", ...}; default: local ports after http_port.'
        ),
    )
    portal_url: str | None = Field(
        default=None,
        description="Where the gateway finds the portal (http://portal:8000); default: the "
        "local port after the services'.",
    )
    portal_session_secret: SecretStr | None = Field(
        default=None,
        description="Key (at least 32 characters) that encrypts the portal's session cookie; "
        "unset: a random key kept in <data_dir>/keys/portal-session.key.",
    )
    public_url: str | None = Field(
        default=None,
        description="Address users reach the gateway at; default from host/port. An https "
        "address makes every portal cookie Secure and the portal send HSTS.",
    )
    auth_private_key_file: Path | None = Field(
        default=None,
        description="Ed25519 PEM that signs API keys and tokens (listings only).",
    )
    auth_public_key_file: Path | None = Field(
        default=None,
        description="Ed25519 public PEM every service verifies tokens with.",
    )
    access_token_minutes: int = Field(
        default=60, ge=1, le=24 * 60, description="Lifetime of a person's access token."
    )
    invitation_hours: int = Field(
        default=72, ge=1, le=24 * 30, description="How long an invitation to a colleague holds."
    )
    proposal_expiry_hours: float = Field(
        default=30 * 24, gt=0, description="An unanswered proposal expires after this long."
    )
    smtp_host: str | None = Field(
        default=None,
        description="Mail server for notification e-mails; unset: e-mails wait in their queue.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    smtp_sender: str = Field(
        default="Viken Park Symbiosis <noreply@vikenpark.example>",
        description="The From of notification e-mails.",
    )
    email_digest_hour: int = Field(
        default=7,
        ge=0,
        le=23,
        description="Hour (Europe/Oslo) at which daily digests are sent.",
    )
    listing_expiry_notice_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="An open listing whose window ends within this many days is announced "
        "to its company (`listing.expiring`), once.",
    )
    listing_expiry_check_seconds: float = Field(
        default=300,
        gt=0,
        description="How often the listings service looks for listings that end soon.",
    )
    negotiation_expiry_hours: float = Field(
        default=14 * 24,
        gt=0,
        description="A negotiation nobody answers for this long expires.",
    )
    platform_fee_percent: float = Field(
        default=2.0,
        ge=0,
        le=50,
        description="The park operator's fee on each invoice, in percent of the amount before "
        "MVA, taken as a Stripe Connect application fee.",
    )
    stripe_api_key: SecretStr | None = Field(
        default=None,
        description="Stripe secret key (`sk_test_...` for stripe-mock or test mode); unset: "
        "confirmed deliveries wait in the invoice queue until it is set.",
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Stripe API base URL; set to stripe-mock's (http://127.0.0.1:12111) to "
        "talk to the mock. Default: Stripe itself.",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret (`whsec_...`) of the Stripe webhook endpoint; unset: "
        "webhooks are refused.",
    )
    haulage_ore_per_tkm: int | None = Field(
        default=None,
        ge=0,
        description="Road haulage rate (øre per tonne-km) for the transport cost of proposals; "
        "unset: the cost is not estimated.",
    )
    max_proposals_per_listing: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="When a listing opens or changes, the matcher proposes at most this many "
        "counterparts, the best first.",
    )
    instance: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:-]{1,100}$",
        description="This process's name among the instances of its service (`symbiosis "
        "serve` makes it from the host name and port): its Kafka consumers are static group "
        "members under it, so that a restarted instance takes its partitions back at once "
        "instead of waiting for a rebalance.",
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="Hosts and networks webhooks may go to besides public https addresses, "
        "comma-separated (`127.0.0.1, erp.park.lan, 10.20.0.0/16`), also over plain http: "
        "test receivers and on-premises systems. Empty: public https addresses only.",
    )
    webhook_max_endpoints: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Webhook endpoints one company (or one partner key) may register.",
    )
    webhook_max_in_flight: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Webhook requests the notifications service has out at once, in all.",
    )
    webhook_max_in_flight_per_owner: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Webhook requests out at once for one company's (or partner's) endpoints, "
        "so that slow endpoints delay only their owner; each endpoint has one at a time.",
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
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level of log lines written, in every process."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="`json`: one JSON object per line (production); `console`: readable "
        "lines; `auto`: readable in a terminal, JSON otherwise (log files, containers).",
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

    @cached_property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def private_key_path(self) -> Path:
        return self.auth_private_key_file or self.keys_dir / "token-signing.pem"

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
    def portal_upstream(self) -> str:
        return self.portal_url or f"http://127.0.0.1:{self.portal_port}"

    @property
    def portal_session_key_path(self) -> Path:
        return self.keys_dir / "portal-session.key"

    def upstreams(self) -> dict[str, str]:
        return {
            name: self.service_urls.get(name, f"http://127.0.0.1:{self.service_port(name)}")
            for name in SERVICES
        }

    @property
    def gateway_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

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

    @property
    def partner_bootstrap_servers(self) -> str:
        return self.kafka_partner_bootstrap_servers or self.require_kafka()

    @property
    def partner_security_protocol(self) -> Literal["SASL_PLAINTEXT", "SASL_SSL"]:
        if self.kafka_partner_security_protocol is not None:
            return self.kafka_partner_security_protocol
        return "SASL_SSL" if self.kafka_security_protocol == "SASL_SSL" else "SASL_PLAINTEXT"

    def require_kafka(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError(
                f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS is not set; run `symbiosis up`, which "
                "starts the embedded Apache Kafka, or point it at a Kafka cluster."
            )
        return self.kafka_bootstrap_servers
