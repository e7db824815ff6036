"""HTTP routes of the notifications service: the inbox, page by page and live."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from pydantic import BaseModel, Field

from services.notifications.domain import LANGUAGES
from services.notifications.live import HUB, Revoked
from services.notifications.storage import inbox as inbox_store
from services.notifications.storage.inbox import InboxNoteRow
from shared.db import Pool
from shared.http import Problem, company_of, principal_of
from shared.revocations import is_revoked

Language = Literal["nb", "en"]
HEARTBEAT_SECONDS = 15.0


class InboxEntry(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    subject_id: str
    language: Language
    title: str
    body: str
    link: str = Field(description="Where the thing is in the portal, e.g. `/contracts/<id>`.")
    typed: list[str] = Field(
        default_factory=list,
        description="What people wrote that `title` and `body` quote as written (a listing's "
        "or trade's title, a receiver's note): not the exchange's words, so not translated "
        '(for example marked `translate="no"` in HTML). Empty for notes from before.',
    )
    created_at: datetime
    read_at: datetime | None


def language_of(request: Request[Any, Any, Any], asked: str | None) -> Language:
    """`?lang=`, else the first of Accept-Language we speak, else Norwegian bokmål."""
    if asked is not None:
        if asked not in LANGUAGES:
            raise Problem(
                400,
                "The request is not valid",
                f"unknown language {asked!r}; choose nb or en",
                errors=[{"field": "lang", "message": "nb or en"}],
            )
        return "nb" if asked == "nb" else "en"
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith(("nb", "no", "nn")):
            return "nb"
        if tag.startswith("en"):
            return "en"
    return "nb"


def entry(row: InboxNoteRow, language: Language) -> InboxEntry:
    return InboxEntry(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        subject_id=row.subject_id,
        link=row.link,
        language=language,
        title=row.title_nb if language == "nb" else row.title,
        body=row.body_nb if language == "nb" else row.body,
        typed=list(row.typed),
        created_at=row.created_at,
        read_at=row.read_at,
    )


def _cursor(row: InboxNoteRow) -> str:
    raw = f"{int(row.read_at is None)}|{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str | None) -> tuple[bool, datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        unread, at, note = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return unread == "1", datetime.fromisoformat(at), uuid.UUID(note)
    except ValueError:
        raise Problem(
            400,
            "The request is not valid",
            "the cursor is not one this API gave out",
            errors=[{"field": "cursor", "message": "not a cursor of this API"}],
        ) from None


class InboxController(Controller):
    path = "/inbox"
    tags = ["inbox"]

    @get("/", operation_id="list_inbox")
    async def list_inbox(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
        lang: FromQuery[str | None] = None,
    ) -> Response[list[InboxEntry]]:
        """Your company's notifications, unread first, newest first, in your language
        (`lang`, else Accept-Language, else Norwegian bokmål). When there is more, the
        `Link` header names the next page (`rel="next"`) and `X-Next-Cursor` its cursor;
        `X-Unread-Count` counts the unread."""
        company = company_of(request, "inbox:read")
        language = language_of(request, lang)
        after = _after(cursor)
        async with pool.acquire() as conn:
            rows = await inbox_store.inbox_page(conn, company, limit + 1, after)
            unread = await inbox_store.unread_count(conn, company)
        headers = {"X-Unread-Count": str(unread)}
        if len(rows) > limit:
            rows = rows[:limit]
            following = _cursor(rows[-1])
            headers["X-Next-Cursor"] = following
            headers["Link"] = (
                f'<{request.url.path}?limit={limit}&cursor={following}&lang={language}>; rel="next"'
            )
        return Response([entry(r, language) for r in rows], headers=headers)

    @post("/{entry_id:uuid}/read", operation_id="mark_inbox_entry_read", status_code=200)
    async def mark_read(
        self,
        request: Request[Any, Any, Any],
        entry_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        lang: FromQuery[str | None] = None,
    ) -> InboxEntry:
        """Mark one of your notifications read."""
        language = language_of(request, lang)
        async with pool.acquire() as conn:
            row = await inbox_store.mark_read(conn, entry_id, company_of(request, "inbox:read"))
        if row is None:
            raise Problem(404, "Not found", f"no notification {entry_id} of yours")
        return entry(row, language)

    @get("/stream", operation_id="stream_inbox")
    async def stream(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        lang: FromQuery[str | None] = None,
    ) -> ServerSentEvent:
        """Your company's new notifications as they arrive (Server-Sent Events): first an
        `unread` event with the count, then a `notification` event per note (its id is the
        event id, so a reconnecting client's `Last-Event-ID` resumes where it stopped),
        and a comment every 15 s to keep the connection open. The stream ends when the
        credential does: the access token runs out, or the key, the sign-in or the person
        is revoked (within seconds)."""
        company = company_of(request, "inbox:read")
        principal = principal_of(request)
        language = language_of(request, lang)
        resume = request.headers.get("last-event-id")
        try:
            last = uuid.UUID(resume) if resume else None
        except ValueError:
            last = None

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            nonlocal last
            with HUB.subscription(company, principal.credential_ids) as queue:
                async with pool.acquire() as conn:
                    count = await inbox_store.unread_count(conn, company)
                    known = last is not None and await inbox_store.note(conn, last, company)
                    missed = (
                        await inbox_store.notes_since(conn, company, last)
                        if known and last is not None
                        else []
                    )
                    if not known:  # start from now
                        last = await inbox_store.newest_note_id(conn, company)
                yield ServerSentEventMessage(data=count, event="unread")
                for row in missed:
                    last = row.id
                    yield _message(row, language)
                while True:
                    left = (principal.expires_at or float("inf")) - time.time()
                    if left <= 0:
                        return  # the token ran out: the client signs in again
                    try:
                        item = await asyncio.wait_for(queue.get(), min(HEARTBEAT_SECONDS, left))
                    except TimeoutError:
                        if await is_revoked(pool, principal):  # should the NOTIFY be lost
                            return
                        if time.time() < (principal.expires_at or float("inf")):
                            yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    if isinstance(item, Revoked):
                        return  # signed out, disabled or the key revoked
                    async with pool.acquire() as conn:
                        rows = (
                            await inbox_store.notes_since(conn, company, last)
                            if last is not None
                            else await inbox_store.oldest_first(conn, company)
                        )
                    for row in rows:
                        last = row.id
                        yield _message(row, language)

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store"})


def _message(row: InboxNoteRow, language: Language) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=entry(row, language).model_dump_json(), event="notification", id=str(row.id)
    )
