"""The directory's SQL: the people of each company (kept from ``person.changed``), their
own e-mail choices, their company's defaults and their daily digests."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shared.db import Connection, record_as
from shared.events import PersonChanged


@dataclass(frozen=True)
class EmailRecipient:
    """An active person who wants an event type by e-mail, and whether in a daily digest."""

    person_id: uuid.UUID
    email: str
    language: Literal["nb", "en"]
    daily: bool


async def remember(conn: Connection, person: PersonChanged) -> None:
    """Add the person, or bring them up to date."""
    await conn.execute(
        """
        INSERT INTO people (person_id, company_id, email, name, language, role, status)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (person_id) DO UPDATE SET
            company_id = excluded.company_id, email = excluded.email, name = excluded.name,
            language = excluded.language, role = excluded.role, status = excluded.status,
            updated_at = now()
        """,
        person.person_id,
        person.company_id,
        person.email,
        person.name,
        person.language,
        person.role,
        person.status,
    )


async def email_recipients(
    conn: Connection, company_ids: Sequence[uuid.UUID], event_type: str
) -> dict[uuid.UUID, list[EmailRecipient]]:
    """The active people of each company who want this event type by e-mail (their own
    choice, else the company's default, else yes), by company; one statement for all."""
    rows = await conn.fetch(
        """
        SELECT p.company_id, p.person_id, p.email, p.language, coalesce(d.daily, false) AS daily
        FROM people p
        LEFT JOIN person_email_preferences pp
               ON pp.person_id = p.person_id AND pp.event_type = $2
        LEFT JOIN company_email_preferences cp
               ON cp.company_id = p.company_id AND cp.event_type = $2
        LEFT JOIN email_digests d ON d.person_id = p.person_id
        WHERE p.company_id = ANY($1::uuid[]) AND p.status = 'active'
          AND coalesce(pp.enabled, cp.enabled, true)
        ORDER BY p.company_id, p.person_id
        """,
        list(company_ids),
        event_type,
    )
    found: dict[uuid.UUID, list[EmailRecipient]] = {}
    for row in rows:
        found.setdefault(row["company_id"], []).append(record_as(EmailRecipient, row))
    return found


async def active_address(conn: Connection, person_id: uuid.UUID | None) -> tuple[str, str] | None:
    """An active person's e-mail address and language; None for anyone else."""
    row = await conn.fetchrow(
        "SELECT email, language FROM people WHERE person_id = $1 AND status = 'active'", person_id
    )
    return (row["email"], row["language"]) if row else None


async def person_choices(conn: Connection, person_id: uuid.UUID | None) -> dict[str, bool]:
    """Event type → e-mail or not, as the person chose (only the types they chose)."""
    rows = await conn.fetch(
        "SELECT event_type, enabled FROM person_email_preferences WHERE person_id = $1",
        person_id,
    )
    return {r["event_type"]: r["enabled"] for r in rows}


async def set_person_choices(
    conn: Connection, person_id: uuid.UUID, choices: Mapping[str, bool]
) -> None:
    for event_type, enabled in choices.items():
        await conn.execute(
            """
            INSERT INTO person_email_preferences (person_id, event_type, enabled)
            VALUES ($1, $2, $3)
            ON CONFLICT (person_id, event_type) DO UPDATE SET enabled = excluded.enabled
            """,
            person_id,
            event_type,
            enabled,
        )


async def company_defaults(conn: Connection, company_id: uuid.UUID) -> dict[str, bool]:
    """Event type → e-mail or not, for the company's people who have not chosen."""
    rows = await conn.fetch(
        "SELECT event_type, enabled FROM company_email_preferences WHERE company_id = $1",
        company_id,
    )
    return {r["event_type"]: r["enabled"] for r in rows}


async def set_company_defaults(
    conn: Connection, company_id: uuid.UUID, choices: Mapping[str, bool]
) -> None:
    for event_type, enabled in choices.items():
        await conn.execute(
            """
            INSERT INTO company_email_preferences (company_id, event_type, enabled)
            VALUES ($1, $2, $3)
            ON CONFLICT (company_id, event_type) DO UPDATE SET enabled = excluded.enabled
            """,
            company_id,
            event_type,
            enabled,
        )


async def takes_daily_digest(conn: Connection, person_id: uuid.UUID | None) -> bool:
    daily = await conn.fetchval("SELECT daily FROM email_digests WHERE person_id = $1", person_id)
    return bool(daily)


async def set_daily_digest(conn: Connection, person_id: uuid.UUID, daily: bool) -> None:
    await conn.execute(
        """
        INSERT INTO email_digests (person_id, daily) VALUES ($1, $2)
        ON CONFLICT (person_id) DO UPDATE SET daily = excluded.daily
        """,
        person_id,
        daily,
    )
