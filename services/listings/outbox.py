"""How the listings service writes its events: to its outbox, with the request's
correlation id, in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request

from shared.db import Connection
from shared.events import Envelope, Payload
from shared.outbox import enqueue

SOURCE = "/services/listings"


async def publish_event(
    conn: Connection,
    request: Request[Any, Any, Any] | None,
    event: Payload,
    subject: uuid.UUID,
    correlation_id: str | None = None,
) -> None:
    if request is not None:
        correlation_id = correlation_id or request.headers.get("x-correlation-id")
    await enqueue(
        conn,
        event.topic,
        Envelope.wrap(event, source=SOURCE, subject=subject, correlation_id=correlation_id),
    )
