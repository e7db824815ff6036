"""A real outbox relay process that dies by SIGKILL right after its first publish.

Run by test_relay_crash.py: the broker has the event, but the row was never marked
sent, which is the window a crash can hit in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable

from shared.db import create_pool
from shared.kafka import create_broker, outbox_publisher
from shared.outbox import OutboxMessage, OutboxRelay
from shared.settings import Settings


async def main(schema: str) -> None:
    settings = Settings()
    pool = await create_pool(settings.require_database_url(), schema)
    broker = create_broker(settings, schema)  # as the service whose outbox it relays
    await broker.connect()
    publish = outbox_publisher(broker, settings.kafka_namespace)

    async def publish_then_die(message: OutboxMessage) -> Awaitable[object]:
        await (await publish(message))  # the broker has it
        print(f"published outbox row {message.id}; dying", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    await OutboxRelay(pool, publish_then_die).publish_pending()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
