"""How the contracts service writes its events: to its outbox, in the caller's transaction."""

from __future__ import annotations

import uuid

from shared.db import Connection
from shared.events import Envelope, Payload
from shared.outbox import enqueue

SOURCE = "/services/contracts"


async def publish(
    conn: Connection, event: Payload, subject: uuid.UUID, correlation_id: str | None
) -> None:
    await enqueue(
        conn,
        event.topic,
        Envelope.wrap(event, source=SOURCE, subject=subject, correlation_id=correlation_id),
    )
