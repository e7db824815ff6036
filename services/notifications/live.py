"""Live notes for the inbox stream: one LISTEN connection per service process fans each
new note out to the open streams of its company, and ends the streams of a credential the
moment its revocation is recorded (``shared.revocations`` NOTIFYs it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import asyncpg
import structlog
from prometheus_client import Gauge

from services.notifications.config import NotificationsSettings
from services.notifications.storage import inbox as inbox_store
from shared import revocations
from shared.db import Pool

log = structlog.get_logger(__name__)
QUEUE_SIZE = 100
OPEN_STREAMS = Gauge(
    "symbiosis_inbox_streams_open",
    "Inbox streams (Server-Sent Events) this process is serving now: one per open portal "
    "page or API client following its inbox.",
)


class Revoked:
    """Put on a stream's queue when its credential is revoked: the stream ends."""


REVOKED = Revoked()
Item = uuid.UUID | None | Revoked


class InboxHub:
    def __init__(self) -> None:
        self._queues: dict[uuid.UUID, set[asyncio.Queue[Item]]] = defaultdict(set)
        self._by_credential: dict[uuid.UUID, set[asyncio.Queue[Item]]] = defaultdict(set)

    @contextlib.contextmanager
    def subscription(
        self, company_id: uuid.UUID, credential_ids: tuple[uuid.UUID, ...] = ()
    ) -> Iterator[asyncio.Queue[Item]]:
        """New note ids of the company while open; ``None`` means some were missed (the
        stream was too slow) and the reader should catch up from the database; ``REVOKED``
        that one of ``credential_ids`` (the key, or the person and the token) was revoked."""
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_SIZE)
        self._queues[company_id].add(queue)
        for credential in credential_ids:
            self._by_credential[credential].add(queue)
        OPEN_STREAMS.inc()
        try:
            yield queue
        finally:
            OPEN_STREAMS.dec()
            self._queues[company_id].discard(queue)
            if not self._queues[company_id]:
                del self._queues[company_id]
            for credential in credential_ids:
                self._by_credential[credential].discard(queue)
                if not self._by_credential[credential]:
                    del self._by_credential[credential]

    def revoke(self, credential_id: uuid.UUID) -> None:
        for queue in list(self._by_credential.get(credential_id, ())):
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:  # nothing else matters to a revoked stream
                    queue.get_nowait()
            queue.put_nowait(REVOKED)

    def on_revoked(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            self.revoke(uuid.UUID(str(payload)))

    def publish(self, company_id: uuid.UUID, note_id: uuid.UUID | None) -> None:
        for queue in list(self._queues.get(company_id, ())):
            try:
                queue.put_nowait(note_id)
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    while True:
                        queue.get_nowait()
                queue.put_nowait(None)

    def reset(self) -> None:
        """After a lost LISTEN connection every stream catches up from the database."""
        for company in list(self._queues):
            self.publish(company, None)

    def on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        company, note = str(payload).split(" ", 1)
        self.publish(uuid.UUID(company), uuid.UUID(note))


HUB = InboxHub()


async def listen(pool: Pool, settings: NotificationsSettings) -> None:
    """Keep one LISTEN connection open for the process's lifetime, reconnecting after an
    outage (the streams then catch up from the database)."""
    del settings
    while True:
        try:
            async with pool.acquire() as conn:
                await conn.add_listener(inbox_store.CHANNEL, HUB.on_notify)
                await conn.add_listener(revocations.CHANNEL, HUB.on_revoked)
                try:
                    HUB.reset()
                    while not conn.is_closed():
                        await asyncio.sleep(5)
                        await inbox_store.ping(conn)
                finally:
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(inbox_store.CHANNEL, HUB.on_notify)
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(revocations.CHANNEL, HUB.on_revoked)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("inbox listener lost its connection, reconnecting", error=repr(exc))
            await asyncio.sleep(1)
