"""The broker killed under load and started again (issue 12, part 4): Apache Kafka's log is
on disk, so nothing it acknowledged is lost, and every committed offset is kept. While
pairs of matching listings are posted, the broker is SIGKILLed and started again on the same
folder; afterwards every pair has exactly one proposal, one negotiation and its two inbox
notes."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.faults.conftest import Servers
from tests.faults.flow import Flow, table
from tests.support import Stack

PAIRS = 100  # 200 listings


async def test_a_killed_broker_loses_nothing_it_acknowledged(
    fault_stack: Stack, servers: Servers
) -> None:
    outage: dict[str, float] = {}

    async def kill_broker() -> None:
        assert servers.kafka is not None
        servers.kafka.process.kill()
        await asyncio.to_thread(servers.kafka.process.wait, 30)
        started = time.monotonic()
        await asyncio.sleep(2)  # down for a moment, while listings go on being posted
        await asyncio.to_thread(servers.start_kafka)
        outage["restart_seconds"] = time.monotonic() - started

    async with httpx.AsyncClient(base_url=fault_stack.url, timeout=20) as client:
        flow = Flow(client, "Broker Kill")
        await flow.start()
        await flow.run(PAIRS, rate=40, at={PAIRS // 2: kill_broker})
        result = await flow.settled(fault_stack.env["SYMBIOSIS_DATABASE_URL"], timeout=240)
    print()
    print(table(f"Broker SIGKILLed after {PAIRS // 2} of {PAIRS} pairs", result.rows()))
    print(f"broker down and back in {outage['restart_seconds']:.1f} s")
    for what, pairs, lost, doubled in result.rows():
        assert (lost, doubled) == (0, 0), f"{what}: {lost} lost, {doubled} doubled of {pairs}"
