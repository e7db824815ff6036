"""The e-mail queue's SQL: e-mails queued in the consumer's transaction, claimed by the
worker one e-mail (or one person's digest) at a time, each in a transaction of its own,
then sent, retried or given up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection, record_as, records_as

CHANNEL = "emails_queued"  # NOTIFY: new e-mails to send


@dataclass(frozen=True)
class QueuedEmail:
    """One e-mail to one person about one event: ``queued`` to send, gathered for a
    ``digest``, ``sent`` or ``failed``."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    person_id: uuid.UUID
    company_id: uuid.UUID
    to_address: str
    language: str
    subject: str
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


async def queue_email(
    conn: Connection,
    *,
    email_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    person_id: uuid.UUID,
    company_id: uuid.UUID,
    to_address: str,
    language: str,
    subject: str,
    body: str,
    status: str,
) -> None:
    """Queue one e-mail (``queued``, or ``digest`` to wait for the day's digest), once per
    event and person."""
    await conn.execute(
        """
        INSERT INTO emails (id, event_id, event_type, person_id, company_id, to_address,
                            language, subject, body, status)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (event_id, person_id) DO NOTHING
        """,
        email_id,
        event_id,
        event_type,
        person_id,
        company_id,
        to_address,
        language,
        subject,
        body,
        status,
    )


async def wake_sender(conn: Connection) -> None:
    """Wake the e-mail worker (at commit)."""
    await conn.execute(f"NOTIFY {CHANNEL}")


async def claim_due(conn: Connection, tried: list[uuid.UUID]) -> QueuedEmail | None:
    """The queued e-mail whose time has come first, but for those ``tried`` already this
    round, locked for this transaction (others skip it); None when there is none."""
    row = await conn.fetchrow(
        """
        SELECT * FROM emails
        WHERE status = 'queued' AND next_attempt_at <= now() AND NOT id = ANY($1::uuid[])
        ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
        """,
        tried,
    )
    return record_as(QueuedEmail, row) if row else None


async def digest_recipients(conn: Connection, cutoff: datetime) -> list[uuid.UUID]:
    """The people with e-mails gathered for a digest up to ``cutoff``."""
    rows = await conn.fetch(
        "SELECT DISTINCT person_id FROM emails WHERE status = 'digest' AND created_at <= $1",
        cutoff,
    )
    return [r["person_id"] for r in rows]


async def claim_digest(
    conn: Connection, person_id: uuid.UUID, cutoff: datetime
) -> list[QueuedEmail]:
    """One person's e-mails gathered for the digest up to ``cutoff``, oldest first, locked
    for this transaction (others skip them)."""
    rows = await conn.fetch(
        """
        SELECT * FROM emails WHERE status = 'digest' AND person_id = $1 AND created_at <= $2
        ORDER BY created_at, id FOR UPDATE SKIP LOCKED
        """,
        person_id,
        cutoff,
    )
    return records_as(QueuedEmail, rows)


async def mark_sent(conn: Connection, email_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE emails SET status = 'sent', sent_at = now(), attempts = attempts + 1 WHERE id = $1",
        email_id,
    )


async def mark_failed(conn: Connection, email_id: uuid.UUID, attempts: int, error: str) -> None:
    """Given up: no more attempts."""
    await conn.execute(
        "UPDATE emails SET status = 'failed', attempts = $2, last_error = $3 WHERE id = $1",
        email_id,
        attempts,
        error,
    )


async def retry_later(
    conn: Connection, email_id: uuid.UUID, attempts: int, error: str, delay_seconds: float
) -> None:
    await conn.execute(
        """
        UPDATE emails SET attempts = $2, last_error = $3,
            next_attempt_at = now() + make_interval(secs => $4)
        WHERE id = $1
        """,
        email_id,
        attempts,
        error,
        delay_seconds,
    )
