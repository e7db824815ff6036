"""The webhook worker: signs each pending delivery, posts it, records every attempt, retries
with exponential back-off and full jitter for a bounded time, then gives up.

Deliveries are made in the Kafka consumer's transaction (``webhooks.enqueue_webhooks``), so
the consumer only ever writes rows and is never held up by an endpoint. This worker runs
beside it as a background job of the notifications service, in every instance:

- **One request in flight per endpoint, across all instances.** Before it sends anything to
  an endpoint, a worker takes a PostgreSQL session advisory lock on the endpoint, on one
  connection the worker keeps for that purpose (it also LISTENs there for new deliveries).
  Another instance finds the lock taken and leaves the endpoint alone; when the process
  dies, even by SIGKILL, PostgreSQL drops its session and with it the locks, so a restarted
  or another instance takes the endpoint over at once, without waiting for a lease to run
  out. Each due delivery row is also claimed with a row lock that other workers skip
  (``storage.webhooks.claim_due_delivery``).
- **Endpoints are served concurrently and fairly**, up to ``Schedule.max_in_flight`` at a
  time in all and ``Schedule.max_in_flight_per_owner`` for one company's (or partner's)
  endpoints, each endpoint in its own task, and no database connection is held while a
  request is out: a slow or dead endpoint costs one task and at most
  ``attempt_timeout_seconds`` per attempt, and slow endpoints delay only their owner.
- **Only to public addresses.** Each attempt resolves the endpoint's host and checks every
  address (``webhook_targets.resolve``); the request goes to the checked address, and an
  address inside the park's network is refused without connecting, unless the park's
  allow-list names it. Redirects are not followed.
- **Every attempt is logged.** An attempt's row is written (committed) before the request
  is sent and completed with the status code or error and its duration afterwards. A crash
  in between leaves it unfinished; the next worker to take the endpoint marks it
  ``interrupted`` and sends the delivery again: the receiver may see the same delivery
  twice, with the same ``Viken-Event-Id`` and ``Viken-Delivery-Id`` (and a signature with a
  newer timestamp). Delivery is at least once; receivers deduplicate by event id.
- **Outcomes.** A 2xx answer delivers. A 410 Gone pauses the endpoint (its deliveries wait
  until it is resumed). Anything else (another status, a refused connection, no answer
  within the timeout, a redirect, which is not followed) is retried after
  ``Schedule.backoff``, until ``give_up_after_seconds`` after the delivery was made: an
  attempt that fails at or after that moment marks the delivery ``failed`` (the last retry
  is scheduled at that moment). ``notification.delivered`` / ``notification.failed`` go to
  the outbox in the transaction that records the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog
from asyncpg.pool import PoolConnectionProxy

from services.notifications.config import NotificationsSettings
from services.notifications.storage import webhooks as webhook_store
from services.notifications.webhook_targets import (
    AllowList,
    Resolver,
    TargetRefused,
    resolve,
    system_resolver,
)
from shared.db import Connection, Pool, is_alive
from shared.events import Envelope, NotificationDelivered, NotificationFailed, Payload, Topic
from shared.http import cookieless
from shared.outbox import enqueue

log = structlog.get_logger(__name__)

SOURCE = "/services/notifications"
CONTENT_TYPE = "application/cloudevents+json"
SIGNATURE_HEADER = "Viken-Signature"
EVENT_ID_HEADER = "Viken-Event-Id"
DELIVERY_ID_HEADER = "Viken-Delivery-Id"
USER_AGENT = "VikenPark-Webhooks/1"
TOLERANCE_SECONDS = 300  # how old a signature receivers should accept
BATCH_PER_ENDPOINT = 100  # deliveries sent in a row to one endpoint before it is re-queued
INTERRUPTED = (
    "interrupted: the sender stopped (a restart or a crash) before the endpoint answered; "
    "the delivery is sent again"
)


@dataclass(frozen=True)
class Schedule:
    """How the worker paces itself; the defaults are production's, tests shorten them."""

    poll_seconds: float = 5.0
    attempt_timeout_seconds: float = 10.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 3600.0
    give_up_after_seconds: float = 24 * 3600.0
    max_in_flight: int = 200
    max_in_flight_per_owner: int = 4

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones: "full jitter", a
        random point between zero and the doubling ceiling (base, 2 x base, 4 x base, ...
        up to the cap), so endpoints that failed together do not all come back at once."""
        ceiling = min(
            self.backoff_cap_seconds, self.backoff_base_seconds * 2.0 ** min(attempts - 1, 40)
        )
        return random.uniform(0, ceiling)


# --- Signing -------------------------------------------------------------------------------


def sign(secret: str, body: bytes, at: int) -> str:
    """The hex HMAC-SHA256 of ``"<at>.<body>"`` keyed with the whole secret (UTF-8,
    ``whsec_`` included): the ``v1`` of ``Viken-Signature``."""
    return hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, at: int, secrets: Sequence[str]) -> str:
    """``t=<at>,v1=<hex>[,v1=<hex>]``: one ``v1`` per secret, the current one first (during a
    rotation's grace period also the previous one)."""
    return ",".join([f"t={at}", *(f"v1={sign(secret, body, at)}" for secret in secrets)])


class SignatureError(ValueError):
    """A webhook request whose ``Viken-Signature`` does not hold."""


def verify(
    header: str,
    body: bytes,
    secret: str,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a ``Viken-Signature`` header against the raw request body, as a receiver does;
    return the signature's timestamp, or raise ``SignatureError``. Self-contained (only the
    standard library): docs/webhooks.md gives it to copy."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("the header has no timestamp or no v1 signature")
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        raise SignatureError("the timestamp is too old (or in the future): a replay?")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("no v1 signature matches this secret and body")
    return timestamp


# --- The worker ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery whose attempt has started: what to send, where, signed with what."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    company_id: uuid.UUID | None
    event_id: uuid.UUID
    event_type: str
    body: bytes
    url: str
    secrets: tuple[str, ...]
    attempt: int


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class EndpointLocks:
    """Session advisory locks on endpoints, on one connection that the worker holds (and
    LISTENs on). A lost connection loses its locks: its ``generation`` then moves on, so
    that a task started under the old one does not unlock what it no longer holds."""

    def __init__(self, pool: Pool, on_notify: Any) -> None:
        self._pool = pool
        self._on_notify = on_notify
        self._conn: PoolConnectionProxy[Any] | None = None
        self._guard = asyncio.Lock()
        self.generation = 0

    async def ready(self) -> bool:
        """Hold a live connection that listens; False when the database is out of reach."""
        if is_alive(self._conn):
            return True
        await self.close()
        try:
            conn = await self._pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("webhook worker cannot reach the database", error=repr(exc))
            return False
        try:
            await conn.add_listener(webhook_store.CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("webhook worker cannot LISTEN", error=repr(exc))
            await self._pool.release(conn)
            return False
        self._conn = conn
        self.generation += 1
        return True

    async def try_lock(self, endpoint_id: uuid.UUID) -> int | None:
        """The generation the lock was taken in, or None when another worker holds it."""
        async with self._guard:
            if self._conn is None:
                return None
            taken = await webhook_store.try_lock_endpoint(self._conn, endpoint_id)
            return self.generation if taken else None

    async def unlock(self, endpoint_id: uuid.UUID, generation: int) -> None:
        async with self._guard:
            if generation != self.generation or not is_alive(self._conn):
                return
            assert self._conn is not None
            try:
                await webhook_store.unlock_endpoint(self._conn, endpoint_id)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("webhook worker lost its lock connection", error=repr(exc))

    async def close(self) -> None:
        """Give the connection back; the pool's reset releases every lock held on it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(webhook_store.CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(conn)


class WebhookWorker:
    """Sends the due deliveries of one database, endpoint by endpoint, concurrently."""

    def __init__(
        self,
        pool: Pool,
        client: httpx.AsyncClient,
        schedule: Schedule,
        allow: AllowList | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._pool = pool
        self._client = client
        self._schedule = schedule
        self._allow = allow or AllowList()
        self._resolver = resolver
        self._wake = asyncio.Event()
        self._locks = EndpointLocks(pool, self._on_notify)
        self._busy: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._owner_busy: dict[uuid.UUID, int] = {}

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Serve endpoints until cancelled; errors are logged and the loop carries on."""
        try:
            while True:
                self._wake.clear()
                wait = self._schedule.poll_seconds
                try:
                    if await self._locks.ready():
                        wait = await self.start_due()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("webhook worker cannot reach the database", error=repr(exc))
                except Exception:  # a bug must not end webhooks for the life of the service
                    log.exception("webhook worker failed unexpectedly, will retry")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
        finally:
            tasks = list(self._busy.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._locks.close()

    async def start_due(self) -> float:
        """Start a task for each endpoint with a due delivery that this worker can lock;
        return how long to wait before looking again."""
        async with self._pool.acquire() as conn:
            due = await webhook_store.due_endpoints(conn, list(self._busy))
        wait = self._schedule.poll_seconds
        for endpoint in due:
            if endpoint.due_in > 0:
                wait = min(wait, max(endpoint.due_in, 0.05))
                break
            if len(self._busy) >= self._schedule.max_in_flight:
                break  # a finishing task wakes the loop
            if self._owner_busy.get(endpoint.owner_id, 0) >= self._schedule.max_in_flight_per_owner:
                continue  # the owner's other endpoints wait for one of its own to finish
            generation = await self._locks.try_lock(endpoint.endpoint_id)
            if generation is None:  # another instance is at it; look again shortly
                wait = min(wait, 1.0)
                continue
            self._start(endpoint.endpoint_id, endpoint.owner_id, generation)
        return wait

    def _start(self, endpoint_id: uuid.UUID, owner_id: uuid.UUID, generation: int) -> None:
        task = asyncio.create_task(
            self._serve(endpoint_id, generation), name=f"webhook-endpoint-{endpoint_id}"
        )
        self._busy[endpoint_id] = task
        self._owner_busy[owner_id] = self._owner_busy.get(owner_id, 0) + 1

        def done(_: asyncio.Task[None]) -> None:
            self._busy.pop(endpoint_id, None)
            left = self._owner_busy.get(owner_id, 1) - 1
            if left > 0:
                self._owner_busy[owner_id] = left
            else:
                self._owner_busy.pop(owner_id, None)
            self._wake.set()

        task.add_done_callback(done)

    async def _serve(self, endpoint_id: uuid.UUID, generation: int) -> None:
        """Send the endpoint's due deliveries, oldest first, while it answers 2xx."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await webhook_store.lock_endpoint(conn, endpoint_id)
                await webhook_store.interrupt_unfinished_attempts(conn, endpoint_id, INTERRUPTED)
            for _ in range(BATCH_PER_ENDPOINT):
                claimed = await self._start_attempt(endpoint_id)
                if claimed is None:
                    break
                outcome = await self.send(claimed)
                await self._finish(claimed, outcome)
                if not outcome.ok:
                    break
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("webhook delivery cannot reach the database", error=repr(exc))
        except Exception:
            log.exception("webhook delivery failed unexpectedly", endpoint_id=str(endpoint_id))
        finally:
            await self._locks.unlock(endpoint_id, generation)

    async def _start_attempt(self, endpoint_id: uuid.UUID) -> Claimed | None:
        """Claim the endpoint's oldest due delivery and commit the start of an attempt."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await webhook_store.claim_due_delivery(conn, endpoint_id)
            if row is None:
                return None
            attempt = await webhook_store.start_attempt(conn, row.id)
        secrets = (row.secret,) + ((row.previous_secret,) if row.previous_secret else ())
        return Claimed(
            delivery_id=row.id,
            endpoint_id=endpoint_id,
            company_id=row.company_id,
            event_id=row.event_id,
            event_type=row.event_type,
            body=bytes(row.body),
            url=row.url,
            secrets=secrets,
            attempt=attempt,
        )

    async def send(self, claimed: Claimed) -> Outcome:
        """One signed POST; never raises (but for cancellation)."""
        at = int(time.time())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(claimed.body, at, claimed.secrets),
            EVENT_ID_HEADER: str(claimed.event_id),
            DELIVERY_ID_HEADER: str(claimed.delivery_id),
        }
        timeout = self._schedule.attempt_timeout_seconds
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(timeout):
                target = await resolve(claimed.url, self._allow, self._resolver)
                async with self._client.stream(
                    "POST",
                    target.url,
                    content=claimed.body,
                    headers=headers | target.headers,
                    extensions=target.extensions,
                ) as response:
                    status = response.status_code  # the body is not read
        except TargetRefused as exc:
            error = f"not sent: {exc}"
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within {timeout:g} s"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration_ms = round((time.monotonic() - started) * 1000)
        if status is not None and not 200 <= status < 300:
            error = f"HTTP {status}" + (
                " (redirects are not followed)" if 300 <= status < 400 else ""
            )
        return Outcome(status, error[:1000] if error else None, duration_ms)

    async def _finish(self, claimed: Claimed, outcome: Outcome) -> None:
        """Record the attempt and what it means for the delivery, with its event."""
        async with self._pool.acquire() as conn, conn.transaction():
            await webhook_store.lock_endpoint(conn, claimed.endpoint_id)
            if outcome.ok:
                row = await webhook_store.mark_delivered(conn, claimed.delivery_id)
                if row is not None:
                    await _announce(conn, claimed, row, None)
            elif outcome.status_code == 410:  # Gone: the receiver says stop
                await webhook_store.pause_gone_endpoint(conn, claimed.endpoint_id)
                await webhook_store.note_delivery_error(conn, claimed.delivery_id, outcome.error)
                log.warning("webhook endpoint answered 410 Gone; paused it", url=claimed.url)
            else:
                row = await webhook_store.retry_or_fail_delivery(
                    conn,
                    claimed.delivery_id,
                    outcome.error,
                    self._schedule.give_up_after_seconds,
                    self._schedule.backoff(claimed.attempt),
                )
                if row is not None and row.status == "failed":
                    await _announce(conn, claimed, row, outcome.error or "failed")
                    log.warning(
                        "webhook delivery failed for good",
                        delivery_id=str(claimed.delivery_id),
                        attempts=row.attempts,
                        error=outcome.error,
                    )
            await webhook_store.finish_attempt(
                conn,
                claimed.delivery_id,
                claimed.attempt,
                outcome.duration_ms,
                outcome.status_code,
                outcome.error,
            )


async def _announce(
    conn: Connection, claimed: Claimed, row: webhook_store.DeliveryOutcome, error: str | None
) -> None:
    """``notification.delivered`` (no error) or ``notification.failed`` to the outbox."""
    facts: dict[str, Any] = {
        "delivery_id": claimed.delivery_id,
        "notified_event_id": claimed.event_id,
        "notified_event_type": claimed.event_type,
        "channel": "webhook",
        "company_id": claimed.company_id,
        "endpoint_id": claimed.endpoint_id,
        "attempts": row.attempts,
        "at": row.completed_at,
    }
    payload: Payload = (
        NotificationDelivered(**facts)
        if error is None
        else NotificationFailed(**facts, error=error[:1000])
    )
    await enqueue(
        conn,
        Topic.NOTIFICATIONS,
        Envelope.wrap(
            payload,
            source=SOURCE,
            subject=claimed.delivery_id,
            correlation_id=_correlation(claimed.body),
        ),
    )


def _correlation(body: bytes) -> str | None:
    try:
        return Envelope.model_validate_json(body).correlationid
    except ValueError:
        return None


async def deliver_periodically(
    pool: Pool,
    settings: NotificationsSettings,
    schedule: Schedule | None = None,
    resolver: Resolver = system_resolver,
) -> None:
    """Send webhook deliveries for as long as the service runs (a background job)."""
    schedule = schedule or Schedule(
        max_in_flight=settings.webhook_max_in_flight,
        max_in_flight_per_owner=settings.webhook_max_in_flight_per_owner,
    )
    allow = AllowList.parse(settings.webhook_allowed_hosts)
    async with httpx.AsyncClient(
        cookies=cookieless(),
        timeout=schedule.attempt_timeout_seconds,
        follow_redirects=False,
        trust_env=False,  # never through a proxy from the environment: the checks are ours
        limits=httpx.Limits(
            max_connections=schedule.max_in_flight,
            max_keepalive_connections=schedule.max_in_flight,
        ),
    ) as client:
        await WebhookWorker(pool, client, schedule, allow, resolver).run()


__all__ = [
    "Schedule",
    "SignatureError",
    "WebhookWorker",
    "deliver_periodically",
    "sign",
    "signature_header",
    "verify",
]
