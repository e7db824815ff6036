"""Partners on Kafka: park administrators issue a partner (a carrier, an ERP vendor, an
authority) a username and password for the cluster, and revoke them.

A partner's principal may read the partner topics (``shared.topology.PARTNER_TOPICS``) in
consumer groups named ``<username>.``..., and nothing else; it never writes. The password
is shown once and never kept: the broker holds its SCRAM verifier. Revoking deletes the
partner's ACLs first, so that its next fetch is refused at once, then its credentials, so
that it cannot sign in again.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel, ConfigDict, Field

from services.listings import storage
from services.listings.accounts import audit
from services.listings.config import ListingsSettings
from shared.broker_admin import (
    PARTNER_KEEPER,
    BrokerAdmin,
    BrokerAdminError,
    partner_grants,
    partner_group_prefix,
    signs_in_and_sees,
)
from shared.db import Pool
from shared.http import Problem, example_body, principal_of
from shared.topology import PARTNER_TOPICS


class PartnerCredentialRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    label: str = Field(
        min_length=1,
        max_length=100,
        description="Who the partner is, for the park office (`Østfold Transport AS, TMS`).",
    )


class PartnerCredential(BaseModel):
    """A partner's Kafka credential (its password is shown only when it is issued)."""

    id: uuid.UUID
    label: str
    username: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: storage.PartnerCredentialRow) -> PartnerCredential:
        return cls(
            id=row.id,
            label=row.label,
            username=row.username,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class IssuedPartnerCredential(PartnerCredential):
    """Everything a partner's client needs to connect; the password only this once."""

    password: str = Field(description="Shown only this once; give it to the partner now.")
    bootstrap_servers: str
    security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"]
    sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    topics: list[str] = Field(description="What the partner may read.")
    group_prefix: str = Field(description="The partner's consumer groups start with this.")


def partner_username(namespace: str, label: str) -> str:
    """A principal name that says whose it is and cannot clash: ``partner-<label>-<random>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:24].strip("-") or "partner"
    return f"{namespace}partner-{slug}-{secrets.token_hex(3)}"


def _keeper(settings: ListingsSettings) -> BrokerAdmin:
    if settings.kafka_security_protocol == "PLAINTEXT":
        raise Problem(
            409,
            "Kafka has no authentication",
            "the exchange's Kafka cluster does not authenticate clients (PLAINTEXT), so it "
            "cannot give a partner credentials of its own",
        )
    return BrokerAdmin(settings, PARTNER_KEEPER)


def _unreachable(exc: BrokerAdminError) -> Problem:
    return Problem(
        503,
        "Kafka is unavailable",
        f"the Kafka cluster did not do it ({exc}); nothing was changed, try again shortly",
    )


class PartnerCredentialController(Controller):
    path = "/partner-credentials"
    tags = ["partners"]

    @get("/", operation_id="list_partner_credentials")
    async def list_credentials(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[PartnerCredential]:
        """Partners' Kafka credentials, issued and revoked (park administrators)."""
        principal_of(request, "park:admin")
        async with pool.acquire() as conn:
            rows = await storage.list_partner_credentials(conn)
        return [PartnerCredential.of(r) for r in rows]

    @post("/", status_code=HTTP_201_CREATED, operation_id="issue_partner_credential")
    async def issue(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            PartnerCredentialRequest,
            example_body(("A carrier's transport system", {"label": "Østfold Transport AS"})),
        ],
        pool: NamedDependency[Pool],
        settings: NamedDependency[ListingsSettings],
    ) -> IssuedPartnerCredential:
        """Give a partner a Kafka username and password that read the partner stream
        (park administrators); the password is shown once."""
        admin = principal_of(request, "park:admin")
        keeper = _keeper(settings)
        credential_id = uuid.uuid4()
        username = partner_username(settings.kafka_namespace, data.label)
        password = secrets.token_urlsafe(32)
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.insert_partner_credential(
                conn, credential_id, data.label, username, admin.subject_id
            )
            # On the broker before the row commits: a failure here leaves no row behind,
            # and a failed commit leaves a credential whose password nobody was ever shown.
            try:
                await keeper.set_password(username, password)
                await keeper.grant(partner_grants(settings.kafka_namespace, username))
                # answered once the partner can use them
                await signs_in_and_sees(
                    settings,
                    "partner",
                    [topic.value for topic in PARTNER_TOPICS],
                    password,
                    username=username,
                )
            except BrokerAdminError as exc:
                raise _unreachable(exc) from None
            await audit(
                conn,
                request,
                "partner_credential.issued",
                company_id=None,
                subject_id=credential_id,
                label=data.label,
                username=username,
            )
        return IssuedPartnerCredential(
            **PartnerCredential.of(row).model_dump(),
            password=password,
            bootstrap_servers=settings.partner_bootstrap_servers,
            security_protocol=settings.partner_security_protocol,
            topics=[settings.kafka_namespace + topic.value for topic in PARTNER_TOPICS],
            group_prefix=partner_group_prefix(username),
        )

    @delete(
        "/{credential_id:uuid}", status_code=HTTP_200_OK, operation_id="revoke_partner_credential"
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        credential_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        settings: NamedDependency[ListingsSettings],
    ) -> PartnerCredential:
        """Cut a partner off (park administrators): its reads are refused at once and it can
        no longer sign in. Revoking twice is harmless."""
        principal_of(request, "park:admin")
        keeper = _keeper(settings)
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.revoke_partner_credential(conn, credential_id)
            if row is None:
                raise Problem(404, "Not found", f"no partner credential {credential_id}")
            try:
                await keeper.revoke_everything_of(row.username)
                await keeper.delete_user(row.username)
            except BrokerAdminError as exc:
                raise _unreachable(exc) from None
            await audit(
                conn,
                request,
                "partner_credential.revoked",
                company_id=None,
                subject_id=row.id,
                username=row.username,
            )
        return PartnerCredential.of(row)
