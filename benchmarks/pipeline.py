"""The whole pipeline under open-loop load, on the real stack, beside the broker's ceiling
measured in the same run.

    make bench    (or: .venv/bin/python -m benchmarks.pipeline [--rates 25,50,100,150,200]
                   [--seconds 20] [--ceiling-messages 50000])

Starts `symbiosis up` (Apache Kafka with SASL and ACLs, PostgreSQL, every service and the
gateway; no demo) on a data folder and ports of its own, then:

1. The broker's ceilings: one producer (librdkafka, acks=all, idempotent, 1 KB messages)
   and one consumer on a topic of the benchmark's own, in messages a second.
2. For each rate (listings a second): pairs of matching listings (an offer and a need of
   two companies, each pair at a site of its own so that it matches only itself) posted
   through the gateway on a fixed schedule that does not wait for answers (open loop), for
   ``--seconds``; then the pipeline is given time to drain. From the databases: the time
   from the later POST of a pair to its proposal (matching), and to the second of the two
   inbox notes (notifications); the POST's own latency from the client. The CPU seconds of
   every process of the stack over the step, and the load generator's own (this process,
   on aiohttp's C parser) while it posts: on a small machine it takes from the stack.
3. The sustainable rate: the highest rate posted in full whose end-to-end p99 (POST to both
   inbox notes) stays under 1 s; and its ratio to the broker's produce ceiling.

Numbers from a busy machine are not a quiet machine's: the load average is printed with each
step.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from stdnum.no import orgnr

REPO = Path(__file__).resolve().parent.parent
E2E_LIMIT_SECONDS = 1.0


def org_number(rng: random.Random) -> str:
    while True:
        candidate = str(rng.randint(80_000_000, 99_999_999)) + str(rng.randint(0, 9))
        if orgnr.is_valid(candidate):
            return candidate


def site(index: int) -> tuple[float, float]:
    """Pair ``index``'s site: a grid of points more than 100 km apart (16,000 of them)."""
    return -70.0 + (index // 120) * 1.0, -179.0 + (index % 120) * 3.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Stack:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBIOSIS_")}
        env |= {
            "SYMBIOSIS_DATA_DIR": str(self.folder),
            "SYMBIOSIS_HTTP_PORT": str(self.port),
            "SYMBIOSIS_EMBEDDED_POSTGRES_PORT": str(self.port + 6),
            "SYMBIOSIS_EMBEDDED_KAFKA_PORT": str(self.port + 7),
            "SYMBIOSIS_EMBEDDED_STRIPE_MOCK_PORT": str(self.port + 8),
            "SYMBIOSIS_EMBEDDED_KAFKA_CONTROLLER_PORT": str(self.port + 9),
            "SYMBIOSIS_EMBEDDED_SMTP_PORT": str(self.port + 10),
            "SYMBIOSIS_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
            # the broker's Java as a production broker runs it: C2, not the quick start
            "SYMBIOSIS_EMBEDDED_KAFKA_JIT": "full",
        }
        return env

    def start(self) -> None:
        log = (self.folder.parent / "up.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "symbiosis", "up"],
            env=self.env(),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        text = ""
        while "Press Ctrl-C to stop." not in text:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`symbiosis up` did not start:\n{text[-3000:]}")
            time.sleep(0.5)
            text = (self.folder.parent / "up.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def processes(self) -> dict[str, psutil.Process]:
        """The stack's processes by what they run (a service's name, kafka, postgres...)."""
        assert self.process is not None
        found: dict[str, psutil.Process] = {}
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                line = " ".join(child.cmdline())
            except psutil.Error:
                continue
            for name, words in (
                ("kafka", ("kafka.Kafka",)),
                ("postgres", ("postgres", "-D")),
                ("listings", ("serve", "listings")),
                ("matching", ("serve", "matching")),
                ("contracts", ("serve", "contracts")),
                ("notifications", ("serve", "notifications")),
                ("gateway", ("symbiosis", "gateway")),
                ("portal", ("symbiosis", "portal")),
            ):
                if all(word in line for word in words):
                    found.setdefault(name, child)
        return found

    def database_url(self) -> str:
        password = (self.folder / "keys" / "postgres-password").read_text().strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port + 6}/symbiosis"

    def kafka(self) -> dict[str, Any]:
        password = (self.folder / "keys" / "kafka" / "admin").read_text().strip()
        return {
            "bootstrap.servers": f"127.0.0.1:{self.port + 7}",
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "admin",
            "sasl.password": password,
        }


def broker_ceilings(stack: Stack, messages: int) -> tuple[float, float]:
    """Messages a second into and out of the broker: one idempotent producer with
    acks=all, one consumer; 1 KB each."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(stack.kafka())  # kept: its futures die with it
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result()
    producer = Producer(
        stack.kafka()
        | {"acks": "all", "enable.idempotence": True, "linger.ms": 5, "batch.size": 262144}
    )
    value = os.urandom(1024)
    started = time.perf_counter()
    for index in range(messages):
        while True:
            try:
                producer.produce(topic, value, key=str(index % 100).encode())
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(120)
    produced = messages / (time.perf_counter() - started)
    consumer = Consumer(
        stack.kafka()
        | {"group.id": f"bench-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    seen = 0
    first: float | None = None  # from the first message: joining the group is not reading
    deadline = time.perf_counter() + 120
    while seen < messages and time.perf_counter() < deadline:
        batch = [m for m in consumer.consume(10_000, timeout=5) if m.error() is None]
        if batch and first is None:
            first = time.perf_counter()
        seen += len(batch)
    consumed = seen / (time.perf_counter() - (first or deadline))
    consumer.close()
    return produced, consumed


@dataclass
class Step:
    rate: float
    posted: int = 0
    sent_at: dict[str, float] = field(default_factory=dict)  # listing id -> POST sent (epoch)
    post_latencies: list[float] = field(default_factory=list)
    failures: int = 0
    pairs: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # wall seconds over which ``cpu`` was counted (drain included)
    to_proposal: list[float] = field(default_factory=list)
    to_notes: list[float] = field(default_factory=list)
    load: float = 0.0
    generator_cpu: float = 0.0  # this process's CPU seconds while it posted the step


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU of a process and its children (PostgreSQL's backends)."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def company(client: aiohttp.ClientSession, rng: random.Random, name: str) -> dict[str, str]:
    async with client.post(
        "/api/listings/companies/", json={"name": name, "org_number": org_number(rng)}
    ) as response:
        response.raise_for_status()
        return {"Authorization": f"Bearer {(await response.json())['api_key']}"}


async def run_step(
    stack: Stack, rate: float, seconds: float, first_pair: int, rng: random.Random
) -> Step:
    step = Step(rate)
    # aiohttp's C parser: the load generator shares the machine with the stack, so it should
    # take as little of it as it can (its own CPU is reported beside the stack's)
    connector = aiohttp.TCPConnector(limit=400)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base_url=stack.url, connector=connector, timeout=timeout
    ) as client:
        supplier = await company(client, rng, f"Bench supplier {uuid.uuid4().hex[:6]}")
        receiver = await company(client, rng, f"Bench receiver {uuid.uuid4().hex[:6]}")

        async def post(kind: str, index: int) -> str | None:
            latitude, longitude = site(index)
            body = {
                "kind": kind,
                "ewc_code": "030105",
                "title": f"Bench {kind} {index}",
                "quantity": "10",
                "unit": "t",
                "location": {"latitude": latitude, "longitude": longitude},
            }
            headers = supplier if kind == "offer" else receiver
            sent = time.time()
            try:
                async with client.post(
                    "/api/listings/listings/", json=body, headers=headers
                ) as response:
                    answer = await response.json() if response.status == 201 else None
            except (TimeoutError, aiohttp.ClientError):
                step.failures += 1
                return None
            step.post_latencies.append(time.time() - sent)
            if answer is None:
                step.failures += 1
                return None
            listing_id: str = answer["id"]
            step.sent_at[listing_id] = sent
            return listing_id

        async def pair(index: int) -> None:
            offer, need = await asyncio.gather(post("offer", index), post("need", index))
            if offer and need:
                step.pairs.append((offer, need))

        processes = stack.processes()
        cpu_before = {name: cpu_seconds(p) for name, p in processes.items()}
        generator_before = time.process_time()
        counted_from = time.monotonic()
        step.load = os.getloadavg()[0]
        interval = 2 / rate  # one pair: two listings
        started = time.monotonic()
        tasks = []
        index = first_pair
        while time.monotonic() - started < seconds:
            due = started + (index - first_pair) * interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(pair(index)))
            index += 1
        await asyncio.gather(*tasks)
        step.seconds = time.monotonic() - started
        step.generator_cpu = time.process_time() - generator_before
        step.posted = 2 * len(step.pairs)
        await drain(stack, step)
        step.cpu = {
            name: cpu_seconds(p) - cpu_before[name]
            for name, p in processes.items()
            if p.is_running()
        }
        step.cpu_seconds = time.monotonic() - counted_from
    return step


async def drain(stack: Stack, step: Step, within: float = 120.0) -> None:
    """Wait until every pair has its proposal and both notes (or ``within``), then read the
    times they were made."""
    db = await asyncpg.connect(stack.database_url())
    offers = {offer: need for offer, need in step.pairs}
    try:
        deadline = time.monotonic() + within
        while True:
            rows = await db.fetch(
                """
                SELECT p.offer_id::text AS offer, extract(epoch FROM p.created_at) AS proposed,
                       (SELECT max(extract(epoch FROM i.created_at)) FROM notifications.inbox i
                        WHERE i.subject_id = p.id::text AND i.event_type = 'trade.proposed')
                           AS noted,
                       (SELECT count(*) FROM notifications.inbox i
                        WHERE i.subject_id = p.id::text AND i.event_type = 'trade.proposed')
                           AS notes
                FROM matching.proposals p WHERE p.offer_id = ANY($1::uuid[])
                """,
                list(offers),
            )
            complete = [r for r in rows if r["notes"] >= 2]
            if len(complete) == len(offers) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await db.close()
    for row in complete:
        posted = max(step.sent_at[row["offer"]], step.sent_at[offers[row["offer"]]])
        step.to_proposal.append(float(row["proposed"]) - posted)
        step.to_notes.append(float(row["noted"]) - posted)


async def idle_cpu(stack: Stack, seconds: float) -> tuple[dict[str, float], float]:
    """Each process's CPU seconds a second while nothing is posted (polls, heartbeats, the
    broker's own work), and the load average then."""
    processes = stack.processes()
    before = {name: cpu_seconds(p) for name, p in processes.items()}
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    rates = {name: (cpu_seconds(p) - before[name]) / elapsed for name, p in processes.items()}
    return rates, os.getloadavg()[0]


def per_listing(step: Step, idle: dict[str, float]) -> dict[str, float]:
    """Each process's CPU milliseconds per listing posted in ``step``, less what it spends
    idle over the same seconds: the work the listings caused, whatever the machine's load
    stretched the step to."""
    return {
        name: (used - idle.get(name, 0.0) * step.cpu_seconds) / max(1, step.posted) * 1000
        for name, used in step.cpu.items()
    }


def report(
    steps: list[Step],
    ceilings: tuple[float, float],
    idle: tuple[dict[str, float], float] | None = None,
) -> None:
    produced, consumed = ceilings
    print(f"\nbroker ceiling: {produced:,.0f} messages/s produced, {consumed:,.0f} consumed (1 KB)")
    header = (
        f"{'rate/s':>7}{'posted/s':>10}{'fail':>6}{'POST p50':>10}{'p99':>8}"
        f"{'→prop p50':>11}{'p99':>8}{'→notes p50':>12}{'p99':>8}{'done':>7}"
        f"{'CPU ms/listing':>16}{'generator':>10}{'load':>6}"
    )
    print(header)
    sustainable = 0.0
    for step in steps:
        achieved = step.posted / step.seconds if step.seconds else 0.0
        cpu = sum(step.cpu.values()) / max(1, step.posted) * 1000
        done = len(step.to_notes) / max(1, len(step.pairs))
        p99 = percentile(step.to_notes, 0.99)
        print(
            f"{step.rate:>7.0f}{achieved:>10.1f}{step.failures:>6}"
            f"{percentile(step.post_latencies, 0.5) * 1000:>8.0f}ms"
            f"{percentile(step.post_latencies, 0.99) * 1000:>6.0f}ms"
            f"{percentile(step.to_proposal, 0.5) * 1000:>9.0f}ms"
            f"{percentile(step.to_proposal, 0.99) * 1000:>6.0f}ms"
            f"{percentile(step.to_notes, 0.5) * 1000:>10.0f}ms{p99 * 1000:>6.0f}ms"
            f"{done:>7.0%}{cpu:>16.1f}"
            f"{step.generator_cpu / max(1, step.posted) * 1000:>10.1f}{step.load:>6.1f}"
        )
        if achieved >= 0.95 * step.rate and done == 1 and p99 < E2E_LIMIT_SECONDS:
            sustainable = max(sustainable, step.rate)
    print("\nCPU seconds per process and step:")
    names = sorted({name for step in steps for name in step.cpu})
    print(f"{'rate/s':>7}" + "".join(f"{name:>15}" for name in names))
    for step in steps:
        print(f"{step.rate:>7.0f}" + "".join(f"{step.cpu.get(n, 0):>15.1f}" for n in names))
    if idle is not None:
        rates, load = idle
        print(f"\nidle, CPU % of one core (load {load:.1f}):")
        print(f"{'':>7}" + "".join(f"{rates.get(n, 0) * 100:>15.1f}" for n in names))
        print("\nCPU ms per listing, less the idle CPU of the step's seconds:")
        print(f"{'rate/s':>7}" + "".join(f"{name:>15}" for name in names) + f"{'total':>10}")
        for step in steps:
            net = per_listing(step, rates)
            print(
                f"{step.rate:>7.0f}"
                + "".join(f"{net.get(n, 0):>15.2f}" for n in names)
                + f"{sum(net.values()):>10.2f}"
            )
    print(
        f"\nsustainable rate (POST to both inbox notes p99 < {E2E_LIMIT_SECONDS:g} s): "
        f"{sustainable:.0f} listings/s; {sustainable / produced:.4f} of the broker's produce "
        "ceiling"
    )


async def main_async(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="symbiosis-pipeline-"))
    from benchmarks.startup import free_block

    stack = Stack(folder / "data", free_block(11))
    stack.start()
    try:
        await asyncio.sleep(10)  # what starting leaves to do (re-keying, first polls)
        idle = await idle_cpu(stack, args.idle_seconds)
        ceilings = await asyncio.to_thread(broker_ceilings, stack, args.ceiling_messages)
        await asyncio.sleep(10)  # the broker settles after the ceilings' 1 KB messages
        steps = []
        first = 0
        for rate in args.rates:
            step = await run_step(stack, rate, args.seconds, first, rng)
            steps.append(step)
            first += len(step.sent_at) // 2 + int(rate * args.seconds)
            print(
                f"rate {rate:.0f}/s: {step.posted} listings in {step.seconds:.1f} s, "
                f"{len(step.to_notes)} of {len(step.pairs)} pairs through",
                flush=True,
            )
        report(steps, ceilings, idle)
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[25.0, 50.0, 100.0, 150.0, 200.0],
        help="listings a second, one step each",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="each step's length")
    parser.add_argument("--ceiling-messages", type=int, default=50_000)
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=15.0,
        help="how long each process's idle CPU is measured, before the steps",
    )
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
