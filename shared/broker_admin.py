"""Administration of the Kafka cluster: topics, SCRAM credentials and ACLs.

aiokafka has no API for SCRAM credentials or ACLs, so this uses confluent-kafka's admin
client (librdkafka), whose calls return futures that are awaited here. ``provision``
makes what the exchange needs, idempotently: every topic, one principal per service with
exactly the rights that ``shared.topology`` gives it, and the rights of the listings
service to issue and revoke partners' credentials.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from shared.settings import KAFKA_ADMIN, SERVICES, Settings
from shared.topology import PARTNER_TOPICS, TOPOLOGY, all_topics, dead_lettered_topics

ADMIN = KAFKA_ADMIN
SCRAM_ITERATIONS = 8192
# Who may issue and revoke partners' credentials (creating SCRAM users and ACLs needs ALTER
# on the cluster): the listings service, the exchange's keeper of identities.
PARTNER_KEEPER = "listings"


class BrokerAdminError(RuntimeError):
    """The cluster refused or did not answer; the message says what was asked."""


@dataclass(frozen=True)
class Grant:
    """One ACL entry: ``operation`` on a resource, allowed to ``principal`` from any host."""

    principal: str
    resource: ResourceType
    name: str
    operation: AclOperation
    pattern: ResourcePatternType = ResourcePatternType.LITERAL

    def binding(self) -> AclBinding:
        return AclBinding(
            self.resource,
            self.name,
            self.pattern,
            f"User:{self.principal}",
            "*",
            self.operation,
            AclPermissionType.ALLOW,
        )


def client_config(settings: Settings, principal: str) -> dict[str, Any]:
    """librdkafka's settings for ``principal`` (a service's name, ``admin`` or a partner)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.require_kafka(),
        "security.protocol": settings.kafka_security_protocol,
        "client.id": f"symbiosis-{principal}-admin",
        "socket.timeout.ms": 10_000,
        "logger": _quiet,
    }
    credentials = settings.kafka_credentials(principal)
    if credentials is not None:
        config |= {
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": credentials[0],
            "sasl.password": credentials[1],
        }
    if settings.kafka_ssl_cafile is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
    return config


class _Quiet:
    """librdkafka logs through this instead of stderr; its errors reach us as exceptions."""

    def log(self, *_: Any, **__: Any) -> None:
        pass


_quiet = _Quiet()


def service_grants(namespace: str, service: str) -> list[Grant]:
    """Exactly what ``service`` needs: write what it produces (and the dead letters of what
    it reads), read what it consumes, and its own consumer groups."""
    access = TOPOLOGY[service]
    principal = namespace + service
    grants: list[Grant] = []
    for topic in access.produces:
        grants += _topic(principal, namespace + topic.value, AclOperation.WRITE)
        if topic in dead_lettered_topics():
            # The park office's dead-letter console: the producer reads what its topic's
            # consumers dead-lettered, and writes it back to its own topic to replay it.
            grants += _topic(principal, namespace + topic.dead_letter, AclOperation.READ)
    for topic in access.consumes:
        grants += _topic(principal, namespace + topic.value, AclOperation.READ)
        grants += _topic(principal, namespace + topic.dead_letter, AclOperation.WRITE)
    grants.append(
        Grant(
            principal,
            ResourceType.GROUP,
            namespace + service,
            AclOperation.READ,
            ResourcePatternType.PREFIXED,
        )
    )
    if service == PARTNER_KEEPER:
        grants += [
            Grant(principal, ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER),
            Grant(principal, ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE),
        ]
    return grants


def partner_grants(namespace: str, username: str) -> list[Grant]:
    """A partner reads the partner topics, in consumer groups named ``<username>.``..."""
    grants: list[Grant] = []
    for topic in PARTNER_TOPICS:
        grants += _topic(username, namespace + topic.value, AclOperation.READ)
    grants.append(
        Grant(
            username,
            ResourceType.GROUP,
            partner_group_prefix(username),
            AclOperation.READ,
            ResourcePatternType.PREFIXED,
        )
    )
    return grants


def partner_group_prefix(username: str) -> str:
    return f"{username}."


def _topic(principal: str, name: str, operation: AclOperation) -> list[Grant]:
    return [
        Grant(principal, ResourceType.TOPIC, name, operation),
        Grant(principal, ResourceType.TOPIC, name, AclOperation.DESCRIBE),
    ]


async def _result(future: Future[Any], what: str) -> Any:
    try:
        return await asyncio.wrap_future(future)
    except KafkaException as exc:
        raise BrokerAdminError(f"{what}: {exc.args[0]}") from None


def _everything_of(username: str) -> AclBindingFilter:
    """Every ACL entry of ``username`` (None matches any resource name and host)."""
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        f"User:{username}",
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


class BrokerAdmin:
    """An admin connection to the cluster, as ``principal``."""

    def __init__(self, settings: Settings, principal: str = ADMIN) -> None:
        self.settings = settings
        self.client = AdminClient(client_config(settings, principal))

    async def wait_until_ready(self, within: float) -> None:
        """Until the cluster answers (and has a controller) or ``within`` seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                await _result(
                    self.client.describe_cluster(request_timeout=5), "describe the cluster"
                )
                return
            except BrokerAdminError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def missing_topics(self, names: Iterable[str]) -> list[str]:
        metadata = await asyncio.to_thread(self.client.list_topics, timeout=10)
        return sorted(set(names) - set(metadata.topics))

    async def create_topics(self, names: Iterable[str]) -> None:
        missing = await self.missing_topics(names)
        if not missing:
            return
        futures = self.client.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=self.settings.kafka_topic_partitions,
                    replication_factor=self.settings.kafka_replication_factor,
                )
                for name in missing
            ],
            request_timeout=15,
        )
        for name, future in futures.items():
            try:
                await asyncio.wrap_future(future)
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:  # made a moment ago
                    raise BrokerAdminError(f"create topic {name}: {error}") from None

    async def set_password(self, username: str, password: str) -> None:
        upsert = UserScramCredentialUpsertion(
            username,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            password.encode(),
        )
        for future in self.client.alter_user_scram_credentials([upsert]).values():
            await _result(future, f"set the credentials of {username}")

    async def delete_user(self, username: str) -> None:
        deletion = UserScramCredentialDeletion(username, ScramMechanism.SCRAM_SHA_512)
        for future in self.client.alter_user_scram_credentials([deletion]).values():
            try:
                await asyncio.wrap_future(future)
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.code() != KafkaError.RESOURCE_NOT_FOUND:  # gone already
                    raise BrokerAdminError(f"delete {username}: {error}") from None

    async def grant(self, grants: Iterable[Grant]) -> None:
        bindings = [g.binding() for g in dict.fromkeys(grants)]
        if bindings:
            for future in self.client.create_acls(bindings, request_timeout=15).values():
                await _result(future, "create ACLs")

    async def revoke_everything_of(self, username: str) -> None:
        """Remove every ACL of ``username``: its next request is refused."""
        everything = _everything_of(username)
        for future in self.client.delete_acls([everything], request_timeout=15).values():
            await _result(future, f"delete the ACLs of {username}")

    async def grants_of(self, username: str) -> list[AclBinding]:
        everything = _everything_of(username)
        found: list[AclBinding] = await _result(
            self.client.describe_acls(everything, request_timeout=15), "describe ACLs"
        )
        return found


def ensure_password_files(folder: Path, principals: Iterable[str]) -> dict[str, str]:
    """Each principal's password, made on first use and kept in ``folder`` (mode 0600).

    A folder of another user's (Docker's and Kubernetes' secrets, mounted read-only and
    owned by root) is only read: its mode is its owner's to set."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)
    passwords: dict[str, str] = {}
    for principal in principals:
        path = folder / principal
        if not path.exists():
            _write_secret(path, secrets.token_urlsafe(32))
        passwords[principal] = path.read_text(encoding="utf-8").strip()
    return passwords


def _write_secret(path: Path, secret: str) -> None:
    import os

    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    temporary.replace(path)


async def provision(settings: Settings, passwords: Mapping[str, str]) -> None:
    """Make the exchange's topics, service principals and ACLs in ``settings``' namespace,
    as the admin of ``settings``; safe to repeat. A PLAINTEXT cluster gets its topics only."""
    admin = BrokerAdmin(settings, ADMIN)
    namespace = settings.kafka_namespace
    await admin.wait_until_ready(within=60)
    await admin.create_topics(namespace + name for name in all_topics())
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    for service in SERVICES:
        await admin.set_password(namespace + service, passwords[service])
        await admin.grant(service_grants(namespace, service))
    for service in SERVICES:
        await signs_in_and_sees(settings, service, TOPOLOGY[service].topics, passwords[service])


async def signs_in_and_sees(
    settings: Settings,
    principal: str,
    topics: Iterable[str],
    password: str | None = None,
    within: float = 20.0,
    *,
    username: str | None = None,
) -> None:
    """Until ``principal`` (or ``username``, as it is) can sign in and see ``topics``:
    credentials and ACLs reach the broker's caches through its metadata a moment after the
    controller took them."""
    if password is not None:
        settings = settings.model_copy(
            update={"kafka_password": SecretStr(password), "kafka_username": username}
        )
    names = [settings.kafka_namespace + name for name in topics]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            client = BrokerAdmin(settings, principal)
            if not await client.missing_topics(names):
                return
        except (KafkaException, BrokerAdminError):
            pass
        if loop.time() > deadline:
            raise BrokerAdminError(f"{principal} still cannot sign in and see {names}")
        await asyncio.sleep(0.2)


async def provision_exchange(settings: Settings) -> None:
    """``provision`` with the services' passwords kept in the credentials folder (made there
    on first use), where each service reads its own."""
    folder = settings.kafka_credentials_dir
    if folder is None:
        raise BrokerAdminError("no Kafka credentials folder (SYMBIOSIS_KAFKA_CREDENTIALS_DIR)")
    await provision(settings, ensure_password_files(folder, SERVICES))
