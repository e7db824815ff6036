"""The webhook channel: endpoints that companies and partners register, and the deliveries
the Kafka consumer makes for them (sent by ``webhook_delivery``). docs/webhooks.md is the
receiver's side: what is sent, how to verify it, retries.

Who may register, and what they may receive ("nothing secret in a notification the
recipient may not see"):

- A **company** endpoint belongs to the company. Its administrators and its API keys
  (scope ``company:admin``) manage it: an endpoint sends company data out of the exchange,
  like an API key, so members (who may read the inbox) may not. It receives the events
  that concern the company: exactly those the inbox makes a note of for that company
  (``domain.notes_for``), of the types it subscribed to.
- A **partner** endpoint belongs to the partner API key that registered it (a partner key
  has no company). It receives only the public listing events (``listing.published``,
  ``listing.updated``, ``listing.withdrawn``) as partners see them on the partner stream
  (the partner event, without a price its company does not share), never trades,
  contracts or invoices. Once the key is revoked, its endpoints receive nothing more.

Only the owner sees or changes an endpoint; anyone else gets 404.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.config import NotificationsSettings
from services.notifications.domain import PARTNER_EVENT_TYPES, ROUTES, Owner, notes_for
from services.notifications.storage import webhooks as webhook_store
from services.notifications.storage.webhooks import (
    DeliveryRow,
    DeliveryStatus,
    EndpointRow,
    EndpointStatus,
)
from services.notifications.webhook_targets import AllowList, TargetRefused, check_url
from shared.db import Connection, Pool
from shared.events import PAYLOAD_TYPES, Envelope, Payload
from shared.http import Problem, example_body, principal_of
from shared.refusals import field_error

DELIVERY_NAMESPACE = uuid.UUID("8f3c2a61-4b7e-4d0a-9c5e-6a1b2c3d4e5f")
SECRET_PREFIX = "whsec_"  # noqa: S105  # a prefix, not a secret
ROTATION_GRACE_SECONDS = 24 * 3600  # the previous secret still signs this long after a rotation


def delivery_id(event_id: uuid.UUID, endpoint_id: uuid.UUID) -> uuid.UUID:
    """One delivery per event and endpoint, whatever is redelivered."""
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{event_id}/{endpoint_id}")


def new_secret() -> str:
    """``whsec_`` and 32 random URL-safe characters (192 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def allow_list(settings: NotificationsSettings) -> AllowList:
    """The park's allow-list of webhook hosts (``SYMBIOSIS_WEBHOOK_ALLOWED_HOSTS``)."""
    return AllowList.parse(settings.webhook_allowed_hosts)


def checked_url(url: str, settings: NotificationsSettings) -> str:
    """The URL, or a 400 problem naming ``url`` and saying why it may not be used."""
    try:
        return check_url(url, allow_list(settings))
    except TargetRefused as exc:
        raise Problem(
            400,
            "The request is not valid",
            f"url: {exc}",
            errors=[field_error("url", "webhook.url_refused", str(exc))],
        ) from None


def owner_of(request: Request[Any, Any, Any]) -> Owner:
    """A company's administrator or API key (``company:admin``), or a partner key."""
    principal = principal_of(request)
    if principal.company_id is not None:
        principal_of(request, "company:admin")
        return Owner(company_id=principal.company_id)
    if principal.role == "partner" and principal.kind == "api_key" and principal.may("events:read"):
        return Owner(partner_key_id=principal.subject_id)
    raise Problem(
        403,
        "Forbidden",
        "webhooks are registered by a company's administrators or API keys, or by a "
        "partner API key",
    )


def check_event_types(owner: Owner, event_types: list[str]) -> list[str]:
    """The types without repeats, or a 400 problem naming the unknown or forbidden ones."""
    wanted = list(dict.fromkeys(event_types))
    unknown = [t for t in wanted if t not in PAYLOAD_TYPES]
    forbidden = [t for t in wanted if t in PAYLOAD_TYPES and t not in owner.receivable]
    allowed = ", ".join(sorted(owner.receivable))
    if unknown:
        message = f"unknown event type(s): {', '.join(unknown)}; choose from {allowed}"
    elif forbidden:
        whose = "a company's" if owner.company_id is not None else "a partner's"
        message = f"{whose} endpoint may not receive {', '.join(forbidden)}; choose from {allowed}"
    else:
        return wanted
    raise Problem(
        400,
        "The request is not valid",
        message,
        errors=[
            field_error(
                "event_types",
                "webhook.event_types_refused",
                message,
                refused=unknown or forbidden,
                allowed=sorted(owner.receivable),
            )
        ],
    )


# --- What the API and the consumer do ------------------------------------------------------


async def create_endpoint(
    conn: Connection,
    owner: Owner,
    url: str,
    event_types: list[str],
    description: str | None,
    max_endpoints: int = 10,
) -> EndpointRow:
    """A new endpoint of the owner's, with a new secret; a 409 problem when the owner has
    ``max_endpoints`` already."""
    row = await webhook_store.add_endpoint(
        conn, owner, url, event_types, description, new_secret(), max_endpoints
    )
    if row is None:
        raise Problem(
            409,
            "Too many webhook endpoints",
            f"you have {max_endpoints} webhook endpoints, as many as one may have; delete one "
            "first, or let one endpoint receive more event types",
            code="webhook.too_many",
            params={"max_endpoints": max_endpoints},
        )
    return row


async def rotate_secret(
    conn: Connection, owner: Owner, endpoint_id: uuid.UUID
) -> EndpointRow | None:
    """A new secret; the one it replaces still signs (as a second ``v1``) for 24 hours."""
    return await webhook_store.replace_secret(
        conn, owner, endpoint_id, new_secret(), float(ROTATION_GRACE_SECONDS)
    )


async def enqueue_webhooks(
    conn: Connection, envelope: Envelope, payload: Payload, partner: Envelope | None
) -> None:
    """Make the event's deliveries, once per endpoint, in the consumer's transaction: for
    the endpoints of the companies it concerns (as the inbox does) that subscribed to its
    type, or, for a public listing event, for the partners' endpoints that did. A partner's
    endpoint gets ``partner``, the event as partners see it on their stream (no price a
    company did not share), never the event itself. Paused endpoints get theirs too; they
    wait until the endpoint is resumed."""
    if type(payload) in ROUTES:
        companies = list(dict.fromkeys(n.company_id for n in notes_for(envelope.id, payload)))
        if not companies:
            return
        endpoint_ids = await webhook_store.company_endpoints_for(conn, companies, envelope.type)
    elif envelope.type in PARTNER_EVENT_TYPES:
        if partner is None:
            return
        envelope = partner
        endpoint_ids = await webhook_store.partner_endpoints_for(conn, envelope.type)
    else:
        return
    if not endpoint_ids:
        return
    await webhook_store.add_deliveries(
        conn,
        envelope.id,
        envelope.type,
        envelope.to_bytes(),
        [(delivery_id(envelope.id, e), e) for e in endpoint_ids],
    )  # delivered at commit


# --- HTTP ----------------------------------------------------------------------------------

EVENT_TYPES_DESCRIPTION = (
    "Event types to receive. A company's endpoint: the events of trades, negotiations, "
    "contracts, deliveries and invoices that concern the company (`trade.proposed`, "
    "`negotiation.countered`, `contract.agreed`, `invoice.paid`, ...). A partner's "
    "endpoint: `listing.published`, `listing.updated`, `listing.withdrawn`."
)


class EndpointRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2000,
        description="Where to POST: an https URL of a public host (plain http and other "
        "hosts only where the park allows them, `SYMBIOSIS_WEBHOOK_ALLOWED_HOSTS`).",
        examples=["https://erp.example.no/hooks/viken"],
    )
    event_types: list[str] = Field(min_length=1, max_length=50, description=EVENT_TYPES_DESCRIPTION)
    description: str | None = Field(default=None, max_length=500)


class EndpointChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000, description="A new URL.")
    event_types: list[str] | None = Field(
        default=None, min_length=1, max_length=50, description=EVENT_TYPES_DESCRIPTION
    )
    description: str | None = Field(
        default=None, max_length=500, description="A new description; null clears it."
    )


class Endpoint(BaseModel):
    """A webhook endpoint (its secret is shown only when it is made or rotated)."""

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    status: EndpointStatus = Field(
        description="`active`, or `paused` (deliveries wait, they do not fail)."
    )
    paused_reason: str | None = Field(
        description="Why it is paused: by you, or because it answered 410 Gone."
    )
    company_id: uuid.UUID | None = Field(description="The owning company; none for a partner.")
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation: until then deliveries also carry a signature with "
        "the previous secret."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: EndpointRow) -> Endpoint:
        return cls(
            id=row.id,
            url=row.url,
            event_types=row.event_types,
            description=row.description,
            status=row.status,
            paused_reason=row.paused_reason,
            company_id=row.company_id,
            previous_secret_valid_until=row.previous_secret_expires_at
            if row.previous_secret
            else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class EndpointWithSecret(Endpoint):
    secret: str = Field(
        description="Signs every delivery (`Viken-Signature`). Shown only now: store it."
    )

    @classmethod
    def of(cls, row: EndpointRow) -> EndpointWithSecret:
        return cls(**Endpoint.of(row).model_dump(), secret=row.secret)


class Attempt(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None = Field(description="None while the request is out.")
    duration_ms: int | None
    status_code: int | None = Field(description="The endpoint's HTTP status, if it answered.")
    error: str | None = Field(
        description="`HTTP <status>`, no answer within the timeout, a connection error, or "
        "`interrupted` (the sender restarted mid-request; the delivery was sent again)."
    )


class Delivery(BaseModel):
    """One event for one endpoint, with every attempt, newest first."""

    id: uuid.UUID = Field(description="Also the `Viken-Delivery-Id` header.")
    event_id: uuid.UUID = Field(description="Also the `Viken-Event-Id` header: dedupe by it.")
    event_type: str
    status: DeliveryStatus = Field(
        description="`pending` (being retried, or waiting for a paused endpoint), "
        "`delivered` (a 2xx answer) or `failed` (no 2xx within the bounded time)."
    )
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt.")
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    attempts: list[Attempt]

    @classmethod
    def of(cls, row: DeliveryRow) -> Delivery:
        return cls(
            id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            status=row.status,
            last_error=row.last_error,
            created_at=row.created_at,
            completed_at=row.completed_at,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            attempts=[
                Attempt(
                    number=a.number,
                    started_at=a.started_at,
                    finished_at=a.finished_at,
                    duration_ms=a.duration_ms,
                    status_code=a.status_code,
                    error=a.error,
                )
                for a in row.attempt_log
            ],
        )


def _cursor(row: DeliveryRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        at, last = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(last)
    except ValueError:
        raise Problem(
            400,
            "The request is not valid",
            "the cursor is not one this API gave out",
            errors=[{"field": "cursor", "message": "not a cursor of this API"}],
        ) from None


def _not_found(endpoint_id: uuid.UUID) -> Problem:
    return Problem(404, "Not found", f"no webhook endpoint {endpoint_id} of yours")


CREATE_EXAMPLE = {
    "url": "https://erp.example.no/hooks/viken",
    "event_types": ["trade.proposed", "contract.agreed", "invoice.paid"],
    "description": "ERP: new trades and payments",
}


class WebhookEndpointController(Controller):
    path = "/webhooks/endpoints"
    tags = ["webhooks"]

    @post("/", status_code=HTTP_201_CREATED, operation_id="create_webhook_endpoint")
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            EndpointRequest,
            example_body(
                ("A company's ERP", CREATE_EXAMPLE),
                (
                    "A partner's listing feed",
                    {
                        "url": "https://tms.carrier.example/viken",
                        "event_types": ["listing.published", "listing.withdrawn"],
                    },
                ),
            ),
        ],
        pool: NamedDependency[Pool],
        settings: NamedDependency[NotificationsSettings],
    ) -> EndpointWithSecret:
        """Register an endpoint to receive events as signed HTTPS POSTs (docs/webhooks.md).
        A company's administrators and API keys (`company:admin`) register the company's
        endpoints, which receive the events that concern the company; a partner API key
        registers its own, which receive public listing events only. The answer carries the
        signing secret, shown only this once. Only events processed from now on are sent.
        The URL must be https to a public host; each company (or partner key) may have
        `SYMBIOSIS_WEBHOOK_MAX_ENDPOINTS` endpoints (10 by default)."""
        owner = owner_of(request)
        url = checked_url(data.url, settings)
        types = check_event_types(owner, data.event_types)
        async with pool.acquire() as conn, conn.transaction():
            row = await create_endpoint(
                conn, owner, url, types, data.description, settings.webhook_max_endpoints
            )
        return EndpointWithSecret.of(row)

    @get("/", operation_id="list_webhook_endpoints")
    async def list_endpoints(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[Endpoint]:
        """Your endpoints (your company's, or your partner key's), oldest first."""
        owner = owner_of(request)
        async with pool.acquire() as conn:
            return [Endpoint.of(r) for r in await webhook_store.endpoints_of(conn, owner)]

    @get("/{endpoint_id:uuid}", operation_id="get_webhook_endpoint")
    async def one(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Endpoint:
        """One of your endpoints."""
        async with pool.acquire() as conn:
            row = await webhook_store.endpoint(conn, owner_of(request), endpoint_id)
        if row is None:
            raise _not_found(endpoint_id)
        return Endpoint.of(row)

    @patch("/{endpoint_id:uuid}", operation_id="update_webhook_endpoint")
    async def update(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        data: Annotated[
            EndpointChanges,
            example_body(("Also invoices", {"event_types": ["trade.proposed", "invoice.paid"]})),
        ],
        pool: NamedDependency[Pool],
        settings: NamedDependency[NotificationsSettings],
    ) -> Endpoint:
        """Change the URL, the event types or the description (those you send). Pending
        deliveries go to the new URL; new types count for events processed from now on."""
        owner = owner_of(request)
        changes: dict[str, Any] = {}
        if "url" in data.model_fields_set:
            if data.url is None:
                raise Problem(
                    400,
                    "The request is not valid",
                    "url: an endpoint needs one",
                    errors=[{"field": "url", "message": "an endpoint needs one"}],
                )
            changes["url"] = checked_url(data.url, settings)
        if "event_types" in data.model_fields_set:
            if data.event_types is None:
                raise Problem(
                    400,
                    "The request is not valid",
                    "event_types: choose at least one",
                    errors=[{"field": "event_types", "message": "choose at least one"}],
                )
            changes["event_types"] = check_event_types(owner, data.event_types)
        if "description" in data.model_fields_set:
            changes["description"] = data.description
        async with pool.acquire() as conn:
            row = await webhook_store.update_endpoint(conn, owner, endpoint_id, changes)
        if row is None:
            raise _not_found(endpoint_id)
        return Endpoint.of(row)

    @post("/{endpoint_id:uuid}/pause", status_code=HTTP_200_OK, operation_id="pause_webhook")
    async def pause(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Endpoint:
        """Stop sending to the endpoint: its deliveries wait (they do not fail) until you
        resume it. A request already out finishes."""
        async with pool.acquire() as conn:
            row = await webhook_store.pause_endpoint(
                conn, owner_of(request), endpoint_id, "paused by you"
            )
        if row is None:
            raise _not_found(endpoint_id)
        return Endpoint.of(row)

    @post("/{endpoint_id:uuid}/resume", status_code=HTTP_200_OK, operation_id="resume_webhook")
    async def resume(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Endpoint:
        """Send to the endpoint again, starting at once with the deliveries that waited.
        A delivery whose retry time ran out while it waited gets one more attempt."""
        async with pool.acquire() as conn, conn.transaction():
            row = await webhook_store.resume_endpoint(conn, owner_of(request), endpoint_id)
        if row is None:
            raise _not_found(endpoint_id)
        return Endpoint.of(row)

    @post(
        "/{endpoint_id:uuid}/rotate-secret",
        status_code=HTTP_200_OK,
        operation_id="rotate_webhook_secret",
    )
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> EndpointWithSecret:
        """A new signing secret, shown only now. For 24 hours each delivery carries two
        signatures (`v1=` with the new secret, then `v1=` with the previous one), so you
        can switch your receiver over without losing a delivery."""
        async with pool.acquire() as conn:
            row = await rotate_secret(conn, owner_of(request), endpoint_id)
        if row is None:
            raise _not_found(endpoint_id)
        return EndpointWithSecret.of(row)

    @delete("/{endpoint_id:uuid}", status_code=HTTP_204_NO_CONTENT, operation_id="delete_webhook")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> None:
        """Delete the endpoint with its pending deliveries and its log."""
        async with pool.acquire() as conn:
            if not await webhook_store.delete_endpoint(conn, owner_of(request), endpoint_id):
                raise _not_found(endpoint_id)

    @get("/{endpoint_id:uuid}/deliveries", operation_id="list_webhook_deliveries")
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Response[list[Delivery]]:
        """The endpoint's delivery log: each delivery, newest first, with every attempt
        (when, the status code or error, how long), newest first. When there is more, the
        `Link` header names the next page (`rel="next"`) and `X-Next-Cursor` its cursor."""
        after = _after(cursor)
        async with pool.acquire() as conn:
            if await webhook_store.endpoint(conn, owner_of(request), endpoint_id) is None:
                raise _not_found(endpoint_id)
            rows = await webhook_store.deliveries_page(conn, endpoint_id, limit + 1, after)
        headers: dict[str, str] = {}
        if len(rows) > limit:
            rows = rows[:limit]
            following = _cursor(rows[-1])
            headers["X-Next-Cursor"] = following
            headers["Link"] = f'<{request.url.path}?limit={limit}&cursor={following}>; rel="next"'
        return Response([Delivery.of(r) for r in rows], headers=headers)
