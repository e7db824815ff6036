"""Webhooks on a real PostgreSQL and real HTTP: which endpoints an event reaches, the
signature, retries with back-off up to a bounded time, 410 Gone, secret rotation, one
request at a time per endpoint across two workers, and an attempt cut short."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
import structlog.testing

from services.notifications.config import NotificationsSettings
from services.notifications.domain import Owner
from services.notifications.partner_feed import partner_envelope, partner_view
from services.notifications.storage import webhooks as webhook_store
from services.notifications.storage.webhooks import DeliveryRow, EndpointRow
from services.notifications.webhook_delivery import (
    INTERRUPTED,
    Schedule,
    SignatureError,
    deliver_periodically,
    sign,
    signature_header,
    verify,
)
from services.notifications.webhooks import (
    create_endpoint,
    delivery_id,
    enqueue_webhooks,
    rotate_secret,
)
from shared.db import Pool, create_pool
from shared.events import (
    ContractCancelled,
    Envelope,
    ListingPublished,
    NegotiationCountered,
    Payload,
    Terms,
    TradeProposed,
)
from shared.settings import Settings
from tests.support import eventually, free_port, migrated_pool

pytestmark = pytest.mark.integration

HOLD = -1  # a scripted answer: none; keep the connection open until released


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A real HTTP/1.1 server on 127.0.0.1 (asyncio streams, one request per connection).
    It records every request and answers each path as scripted (a status code, or HOLD),
    then 200; ``delay`` holds every answer of a path that long. It counts how many requests
    of each path are open at once."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Received] = []
        self.delay: dict[str, float] = {}
        self.open_now: dict[str, int] = {}
        self.most_open: dict[str, int] = {}
        self._script: dict[str, list[int]] = {}
        self._released = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: int) -> None:
        self._script[path] = list(answers)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def release(self) -> None:
        """Let every held request go (unanswered)."""
        self._released.set()

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._released.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        path = ""
        counted = False
        try:
            request_line = await reader.readline()
            if not request_line:
                return
            _method, path, _version = request_line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(path, headers, body, time.time()))
            self.open_now[path] = self.open_now.get(path, 0) + 1
            self.most_open[path] = max(self.most_open.get(path, 0), self.open_now[path])
            counted = True
            answers = self._script.get(path)
            answer = answers.pop(0) if answers else 200
            if answer == HOLD:
                await self._hold(reader)
                return
            await asyncio.sleep(self.delay.get(path, 0))
            phrase = HTTPStatus(answer).phrase
            writer.write(
                f"HTTP/1.1 {answer} {phrase}\r\nContent-Length: 2\r\n"
                "Connection: close\r\n\r\nok".encode()
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if counted:
                self.open_now[path] -= 1
            writer.close()
            self._handlers.discard(task)

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Until released, or until the client goes away."""
        closed = asyncio.ensure_future(reader.read(1))
        released = asyncio.ensure_future(self._released.wait())
        await asyncio.wait({closed, released}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (closed, released):
            waiter.cancel()
        await asyncio.gather(closed, released, return_exceptions=True)


FAST = Schedule(
    poll_seconds=0.2,
    attempt_timeout_seconds=3.0,
    backoff_base_seconds=0.05,
    backoff_cap_seconds=0.2,
    give_up_after_seconds=60.0,
)


@pytest.fixture
def settings(settings: Settings) -> NotificationsSettings:
    """The test's settings as the notifications service reads them (webhooks are its own)."""
    return NotificationsSettings(**settings.model_dump())


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


@contextlib.asynccontextmanager
async def worker(pool: Pool, settings: Settings, schedule: Schedule = FAST) -> AsyncIterator[None]:
    """The delivery worker, allowed to send to the receivers on the loopback."""
    allowed = settings.model_copy(update={"webhook_allowed_hosts": "127.0.0.1"})
    task = asyncio.create_task(deliver_periodically(pool, allowed, schedule))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def proposed(supplier: uuid.UUID, receiver: uuid.UUID) -> Envelope:
    payload = TradeProposed(
        proposal_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=supplier,
        receiver_company_id=receiver,
        ewc_code="070213",
        title="Plastic film",
        quantity=Decimal(5),
        unit="t",
        reasons=("same List of Waste code",),
    )
    return Envelope.wrap(
        payload, source="/services/matching", subject=payload.proposal_id, correlation_id="c-1"
    )


def countered(supplier: uuid.UUID, receiver: uuid.UUID, by: uuid.UUID) -> Envelope:
    payload = NegotiationCountered(
        negotiation_id=uuid.uuid4(),
        supplier_company_id=supplier,
        receiver_company_id=receiver,
        title="Plastic film",
        by_company_id=by,
        terms=Terms(quantity=Decimal(4), unit="t", price_per_unit_ore=100),
        at=datetime.now(UTC),
    )
    return Envelope.wrap(payload, source="/services/contracts", subject=payload.negotiation_id)


def published(company: uuid.UUID) -> Envelope:
    payload = ListingPublished(
        listing_id=uuid.uuid4(),
        company_id=company,
        kind="offer",
        ewc_code="070213",
        title="Plastic film",
        quantity=Decimal(5),
        unit="t",
        hazardous=False,
        published_at=datetime.now(UTC),
    )
    return Envelope.wrap(payload, source="/services/listings", subject=payload.listing_id)


async def consume(pool: Pool, envelope: Envelope) -> None:
    """What the Kafka handler does for webhooks, in a transaction of its own: a partner's
    endpoint gets the event as partners see it (here from the listing's own sharing)."""
    payload: Payload = envelope.payload()
    view = partner_view(payload, {})
    partner = partner_envelope(envelope, view) if view is not None else None
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_webhooks(conn, envelope, payload, partner)


async def endpoint(
    pool: Pool, owner: Owner, url: str, *event_types: str, paused: bool = False
) -> EndpointRow:
    async with pool.acquire() as conn:
        row = await create_endpoint(conn, owner, url, list(event_types), None)
        if paused:
            await webhook_store.pause_endpoint(conn, owner, row.id, "paused by you")
    return row


async def deliveries(pool: Pool) -> set[tuple[uuid.UUID, uuid.UUID]]:
    rows = await pool.fetch("SELECT event_id, endpoint_id FROM webhook_deliveries")
    return {(r["event_id"], r["endpoint_id"]) for r in rows}


async def delivery(pool: Pool, endpoint_id: uuid.UUID) -> DeliveryRow:
    async with pool.acquire() as conn:
        rows = await webhook_store.deliveries_page(conn, endpoint_id, 10, None)
    assert len(rows) == 1, rows
    return rows[0]


async def outbox(pool: Pool) -> list[Envelope]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [Envelope.model_validate_json(bytes(r["payload"])) for r in rows]


def test_a_signature_holds_only_for_its_body_secret_and_time() -> None:
    body = b'{"id": "e1"}'
    at = int(time.time())
    header = signature_header(body, at, ["whsec_new", "whsec_old"])
    assert header == f"t={at},v1={sign('whsec_new', body, at)},v1={sign('whsec_old', body, at)}"
    assert verify(header, body, "whsec_new") == at
    assert verify(header, body, "whsec_old") == at  # during a rotation, either secret
    for tampered, secret, now in (
        (b'{"id": "e2"}', "whsec_new", None),
        (body, "whsec_other", None),
        (body, "whsec_new", at + 301.0),
        (body, "whsec_new", at - 301.0),
    ):
        with pytest.raises(SignatureError):
            verify(header, tampered, secret, now=now)
    with pytest.raises(SignatureError):
        verify(f"t={at}", body, "whsec_new")
    # a signature made for another time does not hold for this one
    forged = f"t={at + 5},v1={sign('whsec_new', body, at)}"
    with pytest.raises(SignatureError):
        verify(forged, body, "whsec_new")


async def test_an_event_reaches_exactly_the_endpoints_that_may_receive_it(pool: Pool) -> None:
    supplier, receiver_company, bystander = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    partner_key, revoked_key = uuid.uuid4(), uuid.uuid4()
    url = "http://127.0.0.1:9/hook"
    to_supplier = await endpoint(pool, Owner(company_id=supplier), url, "trade.proposed")
    paused = await endpoint(
        pool, Owner(company_id=receiver_company), url, "trade.proposed", paused=True
    )
    other_type = await endpoint(pool, Owner(company_id=supplier), url, "contract.agreed")
    counters = await endpoint(pool, Owner(company_id=supplier), url, "negotiation.countered")
    other_company = await endpoint(pool, Owner(company_id=bystander), url, "trade.proposed")
    partner = await endpoint(
        pool, Owner(partner_key_id=partner_key), url, "listing.published", "listing.withdrawn"
    )
    revoked = await endpoint(pool, Owner(partner_key_id=revoked_key), url, "listing.published")
    await pool.execute(
        "INSERT INTO revoked_api_keys (key_id, revoked_at) VALUES ($1, now())", revoked_key
    )

    trade = proposed(supplier, receiver_company)
    await consume(pool, trade)
    await consume(pool, trade)  # redelivered: still one delivery per endpoint
    # the supplier countered: only the receiver is told, so the supplier's endpoint is not
    counter = countered(supplier, receiver_company, by=supplier)
    await consume(pool, counter)
    listing = published(supplier)
    await consume(pool, listing)

    assert await deliveries(pool) == {
        (trade.id, to_supplier.id),
        (trade.id, paused.id),  # made, and waits for the endpoint to be resumed
        # a partner's endpoint gets the partner event (its own id), as on the partner stream
        (partner_envelope(listing, listing.payload()).id, partner.id),
    }
    assert {other_type.id, counters.id, other_company.id, revoked.id}.isdisjoint(
        {e for _, e in await deliveries(pool)}
    )
    row = await pool.fetchrow(
        "SELECT id, body, status FROM webhook_deliveries WHERE endpoint_id = $1",
        to_supplier.id,
    )
    assert row["id"] == delivery_id(trade.id, to_supplier.id)
    assert row["status"] == "pending"
    assert Envelope.model_validate_json(bytes(row["body"])) == trade


async def test_the_worker_signs_retries_and_logs_every_attempt(
    pool: Pool, settings: Settings, receiver: Receiver
) -> None:
    company = uuid.uuid4()
    hook = await endpoint(pool, Owner(company_id=company), receiver.url("/flaky"), "trade.proposed")
    receiver.script("/flaky", 500, 502)
    event = proposed(company, uuid.uuid4())
    await consume(pool, event)
    async with worker(pool, settings):
        found = await eventually(lambda: _status(pool, hook.id, "delivered"), timeout=15)
    assert found
    requests = receiver.on("/flaky")
    assert len(requests) == 3
    assert len({r.body for r in requests}) == 1  # the same bytes every time
    assert Envelope.model_validate_json(requests[0].body) == event
    for request in requests:
        assert request.headers["content-type"] == "application/cloudevents+json"
        assert request.headers["viken-event-id"] == str(event.id)
        assert request.headers["viken-delivery-id"] == str(delivery_id(event.id, hook.id))
        assert verify(request.headers["viken-signature"], request.body, hook.secret)
        assert request.headers["viken-signature"].count("v1=") == 1

    log = await delivery(pool, hook.id)
    assert log.status == "delivered" and log.attempts == 3
    attempts = sorted(log.attempt_log, key=lambda a: a.number)
    assert [(a.status_code, a.error) for a in attempts] == [
        (500, "HTTP 500"),
        (502, "HTTP 502"),
        (200, None),
    ]
    assert all(a.finished_at is not None and a.duration_ms >= 0 for a in attempts)
    assert [a.number for a in log.attempt_log] == [3, 2, 1]  # newest first

    events = await outbox(pool)
    assert [e.type for e in events] == ["notification.delivered"]
    announced = events[0].payload()
    assert events[0].subject == str(log.id)
    assert events[0].correlationid == "c-1"
    assert announced.model_dump(include={"channel", "attempts", "notified_event_id"}) == {
        "channel": "webhook",
        "attempts": 3,
        "notified_event_id": event.id,
    }


async def _status(pool: Pool, endpoint_id: uuid.UUID, status: str) -> bool:
    found = await pool.fetchval(
        "SELECT status FROM webhook_deliveries WHERE endpoint_id = $1", endpoint_id
    )
    return bool(found == status)


async def test_a_delivery_fails_for_good_after_the_bounded_time(
    pool: Pool, settings: Settings, receiver: Receiver
) -> None:
    company = uuid.uuid4()
    hook = await endpoint(pool, Owner(company_id=company), receiver.url("/down"), "trade.proposed")
    receiver.script("/down", *[503] * 1000)
    await consume(pool, proposed(company, uuid.uuid4()))
    bounded = Schedule(
        poll_seconds=0.2,
        attempt_timeout_seconds=1.0,
        backoff_base_seconds=0.1,
        backoff_cap_seconds=0.4,
        give_up_after_seconds=1.5,
    )
    async with worker(pool, settings, bounded):
        await eventually(lambda: _status(pool, hook.id, "failed"), timeout=15)
        sent = len(receiver.on("/down"))
        await asyncio.sleep(1.0)
        assert len(receiver.on("/down")) == sent  # no attempt after it failed
    log = await delivery(pool, hook.id)
    assert log.attempts == sent >= 2
    assert log.last_error == "HTTP 503"
    assert (log.completed_at - log.created_at).total_seconds() >= 1.5
    events = await outbox(pool)
    assert [e.type for e in events] == ["notification.failed"]
    failed = events[0].payload().model_dump()
    assert failed["attempts"] == sent and failed["error"] == "HTTP 503"
    assert failed["company_id"] == company and failed["endpoint_id"] == hook.id


async def test_410_gone_pauses_the_endpoint_and_its_deliveries_wait_until_resumed(
    pool: Pool, settings: Settings, receiver: Receiver
) -> None:
    company = uuid.uuid4()
    owner = Owner(company_id=company)
    hook = await endpoint(pool, owner, receiver.url("/gone"), "trade.proposed")
    receiver.script("/gone", 410)
    await consume(pool, proposed(company, uuid.uuid4()))
    async with worker(pool, settings):
        await eventually(lambda: _paused(pool, hook.id))
        await consume(pool, proposed(company, uuid.uuid4()))
        await asyncio.sleep(1.0)
        assert len(receiver.on("/gone")) == 1  # nothing is sent while paused
        statuses = await pool.fetch("SELECT status FROM webhook_deliveries")
        assert [r["status"] for r in statuses] == ["pending", "pending"]
        async with pool.acquire() as conn, conn.transaction():
            await webhook_store.resume_endpoint(conn, owner, hook.id)
        await eventually(lambda: _delivered(pool, 2), timeout=10)
    assert len(receiver.on("/gone")) == 3
    assert [e.type for e in await outbox(pool)] == ["notification.delivered"] * 2


async def _paused(pool: Pool, endpoint_id: uuid.UUID) -> bool:
    row = await pool.fetchrow(
        "SELECT status, paused_reason FROM webhook_endpoints WHERE id = $1", endpoint_id
    )
    return bool(row["status"] == "paused" and "410" in row["paused_reason"])


async def _delivered(pool: Pool, count: int) -> bool:
    found = await pool.fetchval(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
    )
    return bool(found == count)


async def test_a_rotated_secret_signs_beside_the_previous_one_for_a_day(
    pool: Pool, settings: Settings, receiver: Receiver
) -> None:
    company = uuid.uuid4()
    owner = Owner(company_id=company)
    hook = await endpoint(pool, owner, receiver.url("/rotating"), "trade.proposed")
    async with pool.acquire() as conn:
        rotated = await rotate_secret(conn, owner, hook.id)
    assert rotated is not None and rotated.secret != hook.secret
    assert rotated.secret.startswith("whsec_") and len(rotated.secret) == 38
    grace = (rotated.previous_secret_expires_at - rotated.updated_at).total_seconds()
    assert grace == pytest.approx(24 * 3600, abs=5)
    async with worker(pool, settings):
        await consume(pool, proposed(company, uuid.uuid4()))
        await eventually(lambda: _delivered(pool, 1), timeout=10)
        await pool.execute(
            "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 s'"
        )
        await consume(pool, proposed(company, uuid.uuid4()))
        await eventually(lambda: _delivered(pool, 2), timeout=10)
    during, after = receiver.on("/rotating")
    assert during.headers["viken-signature"].count("v1=") == 2
    for secret in (rotated.secret, hook.secret):
        verify(during.headers["viken-signature"], during.body, secret)
    assert after.headers["viken-signature"].count("v1=") == 1
    verify(after.headers["viken-signature"], after.body, rotated.secret)
    with pytest.raises(SignatureError):
        verify(after.headers["viken-signature"], after.body, hook.secret)


async def test_two_workers_send_one_request_at_a_time_per_endpoint_and_each_once(
    pool: Pool, settings: Settings, receiver: Receiver, database_url: str
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    hooks = [
        await endpoint(pool, Owner(company_id=c), receiver.url(f"/{c}"), "trade.proposed")
        for c in (first, second)
    ]
    for company in (first, second):
        receiver.delay[f"/{company}"] = 0.2
    for _ in range(5):
        await consume(pool, proposed(first, second))  # one delivery to each endpoint
    other_instance = await create_pool(database_url, "notifications")
    try:
        async with worker(pool, settings), worker(other_instance, settings):
            await eventually(lambda: _delivered(pool, 10), timeout=30)
    finally:
        await other_instance.close()
    for hook, company in zip(hooks, (first, second), strict=True):
        sent = [r.headers["viken-delivery-id"] for r in receiver.on(f"/{company}")]
        assert len(sent) == len(set(sent)) == 5  # each delivery once
        assert receiver.most_open[f"/{company}"] == 1  # never two at once to one endpoint
        assert (
            await pool.fetchval(
                "SELECT sum(attempts) FROM webhook_deliveries WHERE endpoint_id = $1", hook.id
            )
            == 5
        )
    # while the two endpoints were served side by side
    (a_start, a_end), (b_start, b_end) = (
        (min(times), max(times))
        for times in ([r.at for r in receiver.on(f"/{c}")] for c in (first, second))
    )
    assert a_start < b_end and b_start < a_end


async def test_an_attempt_cut_short_is_logged_as_interrupted_and_sent_again(
    pool: Pool, settings: Settings, receiver: Receiver
) -> None:
    company = uuid.uuid4()
    hook = await endpoint(pool, Owner(company_id=company), receiver.url("/held"), "trade.proposed")
    receiver.script("/held", HOLD)
    event = proposed(company, uuid.uuid4())
    await consume(pool, event)
    async with worker(pool, settings):
        await eventually(lambda: _received(receiver, "/held", 1))
    # that worker stopped with the request out; another one takes the endpoint over
    cut = await delivery(pool, hook.id)
    assert cut.status == "pending" and cut.attempt_log[0].finished_at is None
    async with worker(pool, settings):
        await eventually(lambda: _status(pool, hook.id, "delivered"), timeout=10)
    first, again = receiver.on("/held")
    for header in ("viken-event-id", "viken-delivery-id"):
        assert first.headers[header] == again.headers[header]
    assert first.body == again.body
    log = await delivery(pool, hook.id)
    assert [(a.number, a.status_code, a.error) for a in log.attempt_log] == [
        (2, 200, None),
        (1, None, INTERRUPTED),
    ]


async def _received(receiver: Receiver, path: str, count: int) -> bool:
    return len(receiver.on(path)) >= count


async def test_an_endpoint_deleted_while_its_attempt_is_recorded_goes_cleanly(
    pool: Pool, settings: Settings, receiver: Receiver
) -> None:
    """A DELETE cascades from the endpoint to its deliveries and their attempts; here it
    is taken in slow motion, lock by lock, while the worker records the end of an attempt.
    The worker must wait its turn rather than deadlock with it."""
    company = uuid.uuid4()
    owner = Owner(company_id=company)
    doomed = await endpoint(pool, owner, receiver.url("/doomed"), "trade.proposed")
    kept = await endpoint(pool, owner, receiver.url("/kept"), "contract.cancelled")
    receiver.script("/doomed", HOLD)
    await consume(pool, proposed(company, uuid.uuid4()))
    with structlog.testing.capture_logs() as logs:
        async with worker(pool, settings):
            await eventually(lambda: _received(receiver, "/doomed", 1))
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR UPDATE", doomed.id
                )
                await conn.execute(
                    "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1 FOR UPDATE",
                    doomed.id,
                )
                receiver.release()  # the request ends unanswered; the worker records it
                await eventually(lambda: _someone_waits_for_a_lock(pool))
                assert await webhook_store.delete_endpoint(conn, owner, doomed.id)
            # the worker carries on with the other endpoint
            await consume(pool, cancelled(company))
            await eventually(lambda: _status(pool, kept.id, "delivered"), timeout=10)
    assert [e for e in logs if e["log_level"] in ("warning", "error", "critical")] == []
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
    assert await pool.fetchval("SELECT count(*) FROM webhook_attempts") == 1


async def _someone_waits_for_a_lock(pool: Pool) -> bool:
    waiting = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


def cancelled(company: uuid.UUID) -> Envelope:
    payload = ContractCancelled(
        contract_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=company,
        receiver_company_id=uuid.uuid4(),
        undelivered_quantity=Decimal(1),
        unit="t",
        by_company_id=None,
        reason="the listings could not reserve it",
        cancelled_at=datetime.now(UTC),
    )
    return Envelope.wrap(payload, source="/services/contracts", subject=payload.contract_id)
