"""HTTP routes of the notifications service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from pydantic import BaseModel

from services.notifications import storage
from shared.db import Pool
from shared.http import Problem, company_of


class InboxEntry(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    subject_id: str
    title: str
    body: str
    link: str
    created_at: datetime
    read_at: datetime | None


class InboxController(Controller):
    path = "/inbox"
    tags = ["inbox"]

    @get("/", operation_id="list_inbox")
    async def list_inbox(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[InboxEntry]:
        """The caller's notifications, unread first, newest first."""
        async with pool.acquire() as conn:
            rows = await storage.inbox_of(conn, company_of(request, "inbox:read"), limit)
        return [InboxEntry(**r) for r in rows]

    @post("/{entry_id:uuid}/read", operation_id="mark_inbox_entry_read", status_code=200)
    async def mark_read(
        self,
        request: Request[Any, Any, Any],
        entry_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> InboxEntry:
        """Mark one of the caller's notifications read."""
        async with pool.acquire() as conn:
            row = await storage.mark_read(conn, entry_id, company_of(request, "inbox:read"))
        if row is None:
            raise Problem(404, "Not found", f"no notification {entry_id} of yours")
        return InboxEntry(**row)
