"""The inbox's SQL: each company's notes, page by page, read or not, and the NOTIFY that
announces a new one to the live streams (``live``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from services.notifications.domain import Note
from shared.db import Connection, record_as, records_as

CHANNEL = "inbox"  # NOTIFY payload: "<company id> <note id>"


@dataclass(frozen=True)
class InboxNoteRow:
    """A note in a company's inbox, in English (``title``, ``body``) and bokmål."""

    id: uuid.UUID
    company_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    subject_id: str
    title: str
    body: str
    title_nb: str
    body_nb: str
    link: str
    created_at: datetime
    read_at: datetime | None
    typed: list[str] = field(default_factory=list)  # what people wrote that it quotes


async def add_note(
    conn: Connection, note: Note, event_id: uuid.UUID, event_type: str, subject: str
) -> bool:
    """Store a note once per event and company; True when it is new (and announced live)."""
    # One statement: the note, and (when it is new) the NOTIFY, delivered at commit, that
    # announces it to the live streams.
    added = await conn.fetchval(
        """
        WITH added AS (
            INSERT INTO inbox (id, company_id, event_id, event_type, subject_id, title, body,
                               title_nb, body_nb, link, typed)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12)
            ON CONFLICT (event_id, company_id) DO NOTHING
            RETURNING company_id, id
        )
        SELECT true FROM added, pg_notify($11, added.company_id || ' ' || added.id)
        """,
        note.id,
        note.company_id,
        event_id,
        event_type,
        subject,
        note.title.en,
        note.body.en,
        note.title.nb,
        note.body.nb,
        note.link,
        CHANNEL,
        list(note.typed),
    )
    return bool(added)


async def inbox_page(
    conn: Connection,
    company_id: uuid.UUID,
    limit: int,
    after: tuple[bool, datetime, uuid.UUID] | None,
) -> list[InboxNoteRow]:
    """One page: unread first, newest first; ``after`` is the last row of the previous page."""
    rows = await conn.fetch(
        """
        SELECT * FROM inbox
        WHERE company_id = $1
          AND ($3::boolean IS NULL
               OR ((read_at IS NULL), created_at, id) < ($3::boolean, $4::timestamptz, $5::uuid))
        ORDER BY (read_at IS NULL) DESC, created_at DESC, id DESC
        LIMIT $2
        """,
        company_id,
        limit,
        *(after if after else (None, None, None)),
    )
    return records_as(InboxNoteRow, rows)


async def unread_count(conn: Connection, company_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM inbox WHERE company_id = $1 AND read_at IS NULL", company_id
    )
    return count


async def note(conn: Connection, note_id: uuid.UUID, company_id: uuid.UUID) -> InboxNoteRow | None:
    row = await conn.fetchrow(
        "SELECT * FROM inbox WHERE id = $1 AND company_id = $2", note_id, company_id
    )
    return record_as(InboxNoteRow, row) if row else None


async def notes_since(
    conn: Connection, company_id: uuid.UUID, note_id: uuid.UUID
) -> list[InboxNoteRow]:
    """Notes newer than ``note_id`` (which the caller saw last), oldest first."""
    rows = await conn.fetch(
        """
        SELECT * FROM inbox
        WHERE company_id = $1
          AND (created_at, id) > (
              SELECT created_at, id FROM inbox WHERE id = $2 AND company_id = $1
          )
        ORDER BY created_at, id LIMIT 500
        """,
        company_id,
        note_id,
    )
    return records_as(InboxNoteRow, rows)


async def newest_note_id(conn: Connection, company_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM inbox WHERE company_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        company_id,
    )
    return found


async def oldest_first(conn: Connection, company_id: uuid.UUID) -> list[InboxNoteRow]:
    rows = await conn.fetch(
        "SELECT * FROM inbox WHERE company_id = $1 ORDER BY created_at, id LIMIT 500", company_id
    )
    return records_as(InboxNoteRow, rows)


async def mark_read(
    conn: Connection, note_id: uuid.UUID, company_id: uuid.UUID
) -> InboxNoteRow | None:
    row = await conn.fetchrow(
        """
        UPDATE inbox SET read_at = coalesce(read_at, now())
        WHERE id = $1 AND company_id = $2 RETURNING *
        """,
        note_id,
        company_id,
    )
    return record_as(InboxNoteRow, row) if row else None


async def ping(conn: Connection) -> None:
    """A round trip, so that a dead LISTEN connection shows itself."""
    await conn.execute("SELECT 1")
