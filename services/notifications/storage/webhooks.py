"""The webhooks' SQL: endpoints (only ever their owner's), the deliveries made for them in
the consumer's transaction, and what the worker (``webhook_delivery``) claims, locks and
records of each attempt."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.notifications.domain import Owner
from shared.db import Connection, record_as, records_as

CHANNEL = "webhooks"  # NOTIFY: new deliveries, or an endpoint resumed
LOCK_CLASS = 0x56504B57  # first key of the two-key advisory locks on endpoints ("VPKW")

# --- Rows ----------------------------------------------------------------------------------

EndpointStatus = Literal["active", "paused"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True)
class EndpointRow:
    """A webhook endpoint, with its secrets (only the owner ever sees it)."""

    id: uuid.UUID
    company_id: uuid.UUID | None
    partner_key_id: uuid.UUID | None
    url: str
    event_types: list[str]
    description: str | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    status: EndpointStatus
    paused_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AttemptRow:
    """One attempt of a delivery: open while ``finished_at`` is None."""

    delivery_id: uuid.UUID
    number: int
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class DeliveryRow:
    """One event for one endpoint, as its log shows it (no body), with its attempts."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    attempt_log: tuple[AttemptRow, ...] = ()


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed to send, with what sending takes: the URL, and the secrets that
    sign (``previous_secret`` only while it is still valid)."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    body: bytes
    url: str
    company_id: uuid.UUID | None
    secret: str
    previous_secret: str | None


@dataclass(frozen=True)
class DeliveryOutcome:
    """Where a delivery stands after an attempt."""

    status: DeliveryStatus
    attempts: int
    completed_at: datetime | None


# --- Endpoints -----------------------------------------------------------------------------

_OWNED = "company_id IS NOT DISTINCT FROM $2 AND partner_key_id IS NOT DISTINCT FROM $3"


async def add_endpoint(
    conn: Connection,
    owner: Owner,
    url: str,
    event_types: list[str],
    description: str | None,
    secret: str,
    max_endpoints: int,
) -> EndpointRow | None:
    """The new endpoint; None when the owner has ``max_endpoints`` already. Call it in a
    transaction: the owner's endpoints are counted under a lock on the owner."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        LOCK_CLASS,
        str(owner.company_id or owner.partner_key_id),
    )
    row = await conn.fetchrow(
        f"""
        INSERT INTO webhook_endpoints (id, company_id, partner_key_id, url, event_types,
                                       description, secret)
        SELECT $1, $2, $3, $4, $5, $6, $7
        WHERE (SELECT count(*) FROM webhook_endpoints WHERE {_OWNED}) < $8
        RETURNING *
        """,
        uuid.uuid4(),
        owner.company_id,
        owner.partner_key_id,
        url,
        event_types,
        description,
        secret,
        max_endpoints,
    )
    return record_as(EndpointRow, row) if row else None


async def endpoints_of(conn: Connection, owner: Owner) -> list[EndpointRow]:
    """The owner's endpoints, oldest first."""
    rows = await conn.fetch(
        """
        SELECT * FROM webhook_endpoints
        WHERE company_id IS NOT DISTINCT FROM $1 AND partner_key_id IS NOT DISTINCT FROM $2
        ORDER BY created_at, id
        """,
        owner.company_id,
        owner.partner_key_id,
    )
    return records_as(EndpointRow, rows)


async def endpoint(conn: Connection, owner: Owner, endpoint_id: uuid.UUID) -> EndpointRow | None:
    """The endpoint if it is the owner's."""
    row = await conn.fetchrow(
        f"SELECT * FROM webhook_endpoints WHERE id = $1 AND {_OWNED}",
        endpoint_id,
        owner.company_id,
        owner.partner_key_id,
    )
    return record_as(EndpointRow, row) if row else None


async def update_endpoint(
    conn: Connection, owner: Owner, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> EndpointRow | None:
    """Change ``url``, ``event_types`` and ``description`` (those given)."""
    columns = [c for c in ("url", "event_types", "description") if c in changes]
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=4))
    row = await conn.fetchrow(
        f"UPDATE webhook_endpoints SET {sets + ', ' if sets else ''}updated_at = now() "
        f"WHERE id = $1 AND {_OWNED} RETURNING *",
        endpoint_id,
        owner.company_id,
        owner.partner_key_id,
        *(changes[c] for c in columns),
    )
    return record_as(EndpointRow, row) if row else None


async def pause_endpoint(
    conn: Connection, owner: Owner, endpoint_id: uuid.UUID, reason: str
) -> EndpointRow | None:
    """Paused (an endpoint paused already keeps its first reason)."""
    row = await conn.fetchrow(
        f"""
        UPDATE webhook_endpoints
        SET status = 'paused', updated_at = now(),
            paused_reason = CASE WHEN status = 'paused' THEN paused_reason ELSE $4 END
        WHERE id = $1 AND {_OWNED} RETURNING *
        """,
        endpoint_id,
        owner.company_id,
        owner.partner_key_id,
        reason,
    )
    return record_as(EndpointRow, row) if row else None


async def resume_endpoint(
    conn: Connection, owner: Owner, endpoint_id: uuid.UUID
) -> EndpointRow | None:
    """Active again; its waiting deliveries are due at once (and the worker is woken)."""
    row = await conn.fetchrow(
        f"""
        UPDATE webhook_endpoints SET status = 'active', paused_reason = NULL, updated_at = now()
        WHERE id = $1 AND {_OWNED} RETURNING *
        """,
        endpoint_id,
        owner.company_id,
        owner.partner_key_id,
    )
    if row is None:
        return None
    await conn.execute(
        """
        UPDATE webhook_deliveries SET next_attempt_at = now()
        WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at > now()
        """,
        endpoint_id,
    )
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return record_as(EndpointRow, row)


async def replace_secret(
    conn: Connection, owner: Owner, endpoint_id: uuid.UUID, secret: str, grace_seconds: float
) -> EndpointRow | None:
    """The new secret signs; the one it replaces is kept as the previous secret, valid for
    ``grace_seconds`` more."""
    row = await conn.fetchrow(
        f"""
        UPDATE webhook_endpoints
        SET previous_secret = secret,
            previous_secret_expires_at = now() + make_interval(secs => $5),
            secret = $4, updated_at = now()
        WHERE id = $1 AND {_OWNED} RETURNING *
        """,
        endpoint_id,
        owner.company_id,
        owner.partner_key_id,
        secret,
        grace_seconds,
    )
    return record_as(EndpointRow, row) if row else None


async def delete_endpoint(conn: Connection, owner: Owner, endpoint_id: uuid.UUID) -> bool:
    """Gone, with its deliveries and their log."""
    deleted = await conn.fetchval(
        f"DELETE FROM webhook_endpoints WHERE id = $1 AND {_OWNED} RETURNING true",
        endpoint_id,
        owner.company_id,
        owner.partner_key_id,
    )
    return bool(deleted)


# --- Deliveries ----------------------------------------------------------------------------


async def deliveries_page(
    conn: Connection,
    endpoint_id: uuid.UUID,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[DeliveryRow]:
    """Newest first, each with its attempts (newest first); ``after`` ends the last page."""
    rows = await conn.fetch(
        """
        SELECT id, event_id, event_type, status, attempts, next_attempt_at, last_error,
               created_at, completed_at
        FROM webhook_deliveries
        WHERE endpoint_id = $1
          AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
        ORDER BY created_at DESC, id DESC
        LIMIT $2
        """,
        endpoint_id,
        limit,
        *(after if after else (None, None)),
    )
    attempts: dict[uuid.UUID, list[AttemptRow]] = {r["id"]: [] for r in rows}
    for attempt in records_as(
        AttemptRow,
        await conn.fetch(
            "SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[]) "
            "ORDER BY delivery_id, number DESC",
            list(attempts),
        ),
    ):
        attempts[attempt.delivery_id].append(attempt)
    return [
        dataclasses.replace(record_as(DeliveryRow, r), attempt_log=tuple(attempts[r["id"]]))
        for r in rows
    ]


async def company_endpoints_for(
    conn: Connection, companies: list[uuid.UUID], event_type: str
) -> list[uuid.UUID]:
    """The endpoints of these companies that subscribed to the event type (paused too)."""
    rows = await conn.fetch(
        """
        SELECT id FROM webhook_endpoints
        WHERE company_id = ANY($1::uuid[]) AND $2 = ANY(event_types)
        """,
        companies,
        event_type,
    )
    return [r["id"] for r in rows]


async def partner_endpoints_for(conn: Connection, event_type: str) -> list[uuid.UUID]:
    """The partners' endpoints that subscribed to the event type (paused too), but for
    those of revoked keys."""
    rows = await conn.fetch(
        """
        SELECT e.id FROM webhook_endpoints e
        WHERE e.partner_key_id IS NOT NULL AND $1 = ANY(e.event_types)
          AND NOT EXISTS (SELECT 1 FROM revoked_api_keys r WHERE r.key_id = e.partner_key_id)
        """,
        event_type,
    )
    return [r["id"] for r in rows]


async def add_deliveries(
    conn: Connection,
    event_id: uuid.UUID,
    event_type: str,
    body: bytes,
    deliveries: Sequence[tuple[uuid.UUID, uuid.UUID]],
) -> None:
    """One delivery of the event per ``(delivery id, endpoint id)``, none twice; the worker
    is woken at commit."""
    await conn.executemany(
        """
        INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (event_id, endpoint_id) DO NOTHING
        """,
        [
            (delivery_id, endpoint_id, event_id, event_type, body)
            for delivery_id, endpoint_id in deliveries
        ],
    )
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


# --- The worker ----------------------------------------------------------------------------


def lock_key(endpoint_id: uuid.UUID) -> int:
    """The second key of an endpoint's advisory lock (a collision only serialises two)."""
    return int.from_bytes(endpoint_id.bytes[:4], "big", signed=True)


async def try_lock_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> bool:
    """Take the endpoint's session advisory lock on this connection; False when another
    session holds it."""
    taken: bool = await conn.fetchval(
        "SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, lock_key(endpoint_id)
    )
    return taken


async def unlock_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> None:
    await conn.fetchval("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, lock_key(endpoint_id))


@dataclass(frozen=True)
class DueEndpoint:
    endpoint_id: uuid.UUID
    owner_id: uuid.UUID  # the company, or the partner key
    due_in: float  # seconds until its first delivery is due (negative: overdue)


async def due_endpoints(conn: Connection, skip: list[uuid.UUID]) -> list[DueEndpoint]:
    """Active endpoints (of unrevoked owners) with pending deliveries, but for ``skip``,
    soonest due first; each owner's overdue ones interleaved with the others' (an owner's
    second is listed after every owner's first), so no owner fills the list."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT d.endpoint_id, coalesce(e.company_id, e.partner_key_id) AS owner_id,
                   extract(epoch FROM min(d.next_attempt_at) - now())::float8 AS due_in
            FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
            WHERE d.status = 'pending' AND e.status = 'active'
              AND NOT d.endpoint_id = ANY($1::uuid[])
              AND NOT EXISTS (SELECT 1 FROM revoked_api_keys r WHERE r.key_id = e.partner_key_id)
            GROUP BY d.endpoint_id, e.company_id, e.partner_key_id
        )
        SELECT endpoint_id, owner_id, due_in FROM (
            SELECT *, row_number() OVER (PARTITION BY owner_id, due_in > 0 ORDER BY due_in) AS nth
            FROM due
        ) ranked
        ORDER BY due_in > 0, CASE WHEN due_in > 0 THEN 0 ELSE nth END, due_in
        LIMIT 1000
        """,
        skip,
    )
    return records_as(DueEndpoint, rows)


async def lock_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> None:
    """Lock order, against deadlocks with the API (a DELETE cascades from the endpoint to
    its deliveries and their attempts): a transaction that changes more than one of them
    locks the endpoint first, then deliveries, then attempts."""
    await conn.execute(
        "SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE", endpoint_id
    )


async def interrupt_unfinished_attempts(
    conn: Connection, endpoint_id: uuid.UUID, error: str
) -> None:
    """Close the endpoint's attempts that a stopped worker left open, with ``error``."""
    await conn.execute(
        """
        UPDATE webhook_attempts a SET finished_at = now(), error = $2
        FROM webhook_deliveries d
        WHERE a.delivery_id = d.id AND d.endpoint_id = $1 AND a.finished_at IS NULL
        """,
        endpoint_id,
        error,
    )


async def claim_due_delivery(conn: Connection, endpoint_id: uuid.UUID) -> DueDelivery | None:
    """The endpoint's oldest due delivery while it is active, locked for this transaction
    (others skip it), with what it takes to send it: the URL and the secrets that sign."""
    row = await conn.fetchrow(
        """
        SELECT d.id, d.event_id, d.event_type, d.body, e.url, e.company_id, e.secret,
               CASE WHEN e.previous_secret_expires_at > now()
                    THEN e.previous_secret END AS previous_secret
        FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.endpoint_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= now()
          AND e.status = 'active'
        ORDER BY d.next_attempt_at, d.created_at, d.id
        LIMIT 1
        FOR UPDATE OF d SKIP LOCKED
        """,
        endpoint_id,
    )
    return record_as(DueDelivery, row) if row else None


async def start_attempt(conn: Connection, delivery_id: uuid.UUID) -> int:
    """Count one more attempt and log its start; its number."""
    attempt: int = await conn.fetchval(
        "UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
        delivery_id,
    )
    await conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, number) VALUES ($1, $2)",
        delivery_id,
        attempt,
    )
    return attempt


async def mark_delivered(conn: Connection, delivery_id: uuid.UUID) -> DeliveryOutcome | None:
    """Delivered, if still pending: where it stands now."""
    row = await conn.fetchrow(
        """
        UPDATE webhook_deliveries
        SET status = 'delivered', completed_at = now(), last_error = NULL
        WHERE id = $1 AND status = 'pending'
        RETURNING status, attempts, completed_at
        """,
        delivery_id,
    )
    return record_as(DeliveryOutcome, row) if row else None


async def pause_gone_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> None:
    """The endpoint answered 410 Gone: paused, if it was active."""
    await conn.execute(
        """
        UPDATE webhook_endpoints
        SET status = 'paused', updated_at = now(),
            paused_reason = 'the endpoint answered 410 Gone'
        WHERE id = $1 AND status = 'active'
        """,
        endpoint_id,
    )


async def note_delivery_error(conn: Connection, delivery_id: uuid.UUID, error: str | None) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET last_error = $2 WHERE id = $1", delivery_id, error
    )


async def retry_or_fail_delivery(
    conn: Connection,
    delivery_id: uuid.UUID,
    error: str | None,
    give_up_after_seconds: float,
    backoff_seconds: float,
) -> DeliveryOutcome | None:
    """If still pending: failed once ``give_up_after_seconds`` have passed since it was
    made, else due again after ``backoff_seconds`` (but no later than that moment); where
    it stands now."""
    row = await conn.fetchrow(
        """
        UPDATE webhook_deliveries d
        SET status = CASE WHEN now() >= d.created_at + make_interval(secs => $3)
                          THEN 'failed' ELSE 'pending' END,
            completed_at = CASE WHEN now() >= d.created_at + make_interval(secs => $3)
                                THEN now() END,
            next_attempt_at = least(now() + make_interval(secs => $4),
                                    d.created_at + make_interval(secs => $3)),
            last_error = $2
        WHERE id = $1 AND status = 'pending'
        RETURNING status, attempts, completed_at
        """,
        delivery_id,
        error,
        give_up_after_seconds,
        backoff_seconds,
    )
    return record_as(DeliveryOutcome, row) if row else None


async def finish_attempt(
    conn: Connection,
    delivery_id: uuid.UUID,
    number: int,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
) -> None:
    """Log how the attempt ended: the endpoint's status code, or the error."""
    await conn.execute(
        """
        UPDATE webhook_attempts
        SET finished_at = now(), duration_ms = $3, status_code = $4, error = $5
        WHERE delivery_id = $1 AND number = $2
        """,
        delivery_id,
        number,
        duration_ms,
        status_code,
        error,
    )
