"""The company's notifications, and their live stream relayed from the notifications
service: a browser's EventSource cannot send the bearer token, so the portal opens the
stream with the session's token and passes each note on as an HTML fragment."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template

from services.portal.client import Api, ApiProblem
from services.portal.i18n import current_language
from services.portal.pages import DEPENDENCIES, render, see_other
from services.portal.session import signed_in


@dataclass
class Event:
    """One Server-Sent Event as read off the wire."""

    event: str = "message"
    data: list[str] = field(default_factory=list)
    id: str | None = None


def parse_events(lines: list[str]) -> tuple[list[Event], list[str]]:
    """Whole events from the lines read so far, and the lines of an unfinished one."""
    events: list[Event] = []
    current = Event()
    started = False
    pending: list[str] = []
    for line in lines:
        pending.append(line)
        if line == "":
            if started and current.data:
                events.append(current)
            current, started, pending = Event(), False, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        started = True
        if name == "event":
            current.event = value
        elif name == "data":
            current.data.append(value)
        elif name == "id":
            current.id = value
    return events, pending


# Notes a page.
INBOX_PAGE = 50


class InboxController(Controller):
    path = "/inbox"
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/", name="inbox")
    async def inbox(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
    ) -> Template | Redirect:
        """The company's notes, unread first, newest first, a page at a time."""
        try:
            answer = await api.respond(
                "GET",
                "notifications",
                "/inbox",
                params={"lang": current_language(), "limit": INBOX_PAGE, "cursor": cursor},
            )
        except ApiProblem as problem:
            if problem.refused_cursor(cursor):
                return see_other("/inbox")
            raise
        return render(
            request,
            "inbox/inbox.html",
            notes=answer.json(),
            next_cursor=answer.headers.get("X-Next-Cursor"),
            paged=cursor is not None,
        )

    @post("/{entry_id:uuid}/read")
    async def read(
        self, request: Request[Any, Any, Any], api: Api, entry_id: uuid.UUID
    ) -> Template | Redirect:
        """Mark a note read. From htmx, the note read in its place and the unread badge
        with the new count (out of band); without script, the inbox again."""
        note = await api.post("notifications", f"/inbox/{entry_id}/read?lang={current_language()}")
        if request.headers.get("hx-request") != "true":
            return see_other("/inbox")
        return render(request, "inbox/read.html", note=note, badge=badge(await unread_count(api)))

    @get("/stream", name="inbox_stream")
    async def stream(self, request: Request[Any, Any, Any], api: Api) -> ServerSentEvent:
        """``unread`` (the count) and ``notification`` (a rendered note) events, live."""
        engine = request.app.template_engine
        assert engine is not None
        note_template = engine.get_template("inbox/note.html")
        resume = request.headers.get("last-event-id")

        async def relay() -> AsyncIterator[ServerSentEventMessage]:
            try:
                async with api.stream(
                    "notifications",
                    "/inbox/stream",
                    headers={"Last-Event-ID": resume} if resume else None,
                    lang=current_language(),
                ) as upstream:
                    lines: list[str] = []
                    async for line in upstream.aiter_lines():
                        if line.startswith(":") and not lines:
                            # the service's keep-alive: pass it on, so that the gateway
                            # and the browser see the stream is alive
                            yield ServerSentEventMessage(comment="keep-alive")
                            continue
                        lines.append(line)
                        if line != "":
                            continue
                        events, lines = parse_events(lines)
                        for event in events:
                            yield _relayed(event, note_template)
                            if event.event == "notification":
                                # The service counts the unread only when the stream
                                # opens; a new note raises the badge here.
                                yield _unread(await unread_count(api))
            except ApiProblem:
                # The browser's EventSource reconnects by itself a few seconds later.
                yield ServerSentEventMessage(
                    comment="the inbox stream is not available", retry=5000
                )

        return ServerSentEvent(relay(), headers={"Cache-Control": "no-store"})


def _relayed(event: Event, note_template: Any) -> ServerSentEventMessage:
    import json

    text = "\n".join(event.data)
    if event.event == "notification":
        note = json.loads(text)
        html = note_template.render(note=note, live=True)
        return ServerSentEventMessage(
            data=" ".join(html.split("\n")), event="notification", id=event.id
        )
    if event.event == "unread":
        count = int(text) if text.strip().isdigit() else 0
        return _unread(count, event.id)
    return ServerSentEventMessage(comment=event.event)


def badge(count: int) -> str:
    """The unread badge beside the inbox link (empty when nothing is unread)."""
    return f'<span class="badge">{count}</span>' if count else '<span class="badge"></span>'


def _unread(count: int, event_id: str | None = None) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=badge(count), event="unread", id=event_id)


async def unread_count(api: Api) -> int:
    """The company's unread notes, as the notifications service counts them."""
    response = await api.respond(
        "GET", "notifications", "/inbox", params={"limit": 1, "lang": current_language()}
    )
    return int(response.headers.get("X-Unread-Count", "0"))
