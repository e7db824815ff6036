"""All SQL of the notifications service."""

from __future__ import annotations

import uuid
from typing import Any

from services.notifications.domain import Note
from shared.db import Connection


async def add_note(
    conn: Connection, note: Note, event_id: uuid.UUID, event_type: str, subject: str
) -> None:
    await conn.execute(
        """
        INSERT INTO inbox (id, company_id, event_id, event_type, subject_id, title, body, link)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (event_id, company_id) DO NOTHING
        """,
        note.id,
        note.company_id,
        event_id,
        event_type,
        subject,
        note.title,
        note.body,
        note.link,
    )


async def inbox_of(conn: Connection, company_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT * FROM inbox WHERE company_id = $1
        ORDER BY (read_at IS NULL) DESC, created_at DESC, id
        LIMIT $2
        """,
        company_id,
        limit,
    )
    return [dict(r) for r in rows]


async def mark_read(
    conn: Connection, note_id: uuid.UUID, company_id: uuid.UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """
        UPDATE inbox SET read_at = coalesce(read_at, now())
        WHERE id = $1 AND company_id = $2 RETURNING *
        """,
        note_id,
        company_id,
    )
    return dict(row) if row else None
