"""Live notes for the inbox stream: one LISTEN connection per service process fans each
new note out to the open streams of its company."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import asyncpg
import structlog

from services.notifications.storage import inbox as inbox_store
from shared.db import Pool
from shared.settings import Settings

log = structlog.get_logger(__name__)
QUEUE_SIZE = 100


class InboxHub:
    def __init__(self) -> None:
        self._queues: dict[uuid.UUID, set[asyncio.Queue[uuid.UUID | None]]] = defaultdict(set)

    @contextlib.contextmanager
    def subscription(self, company_id: uuid.UUID) -> Iterator[asyncio.Queue[uuid.UUID | None]]:
        """New note ids of the company while open; ``None`` means some were missed (the
        stream was too slow) and the reader should catch up from the database."""
        queue: asyncio.Queue[uuid.UUID | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues[company_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[company_id].discard(queue)
            if not self._queues[company_id]:
                del self._queues[company_id]

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


async def listen(pool: Pool, settings: Settings) -> None:
    """Keep one LISTEN connection open for the process's lifetime, reconnecting after an
    outage (the streams then catch up from the database)."""
    del settings
    while True:
        try:
            async with pool.acquire() as conn:
                await conn.add_listener(inbox_store.CHANNEL, HUB.on_notify)
                try:
                    HUB.reset()
                    while not conn.is_closed():
                        await asyncio.sleep(5)
                        await inbox_store.ping(conn)
                finally:
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(inbox_store.CHANNEL, HUB.on_notify)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("inbox listener lost its connection, reconnecting", error=repr(exc))
            await asyncio.sleep(1)
