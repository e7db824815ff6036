"""The e-mail channel: whom to write (the people of each notified company, by their
preferences, in their language), the messages, and the worker that sends them over SMTP,
one by one or as a daily digest."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiosmtplib
import asyncpg
import structlog

from services.notifications.config import NotificationsSettings
from services.notifications.domain import ROUTES, Note
from services.notifications.storage import email as email_store
from services.notifications.storage import people as people_store
from services.notifications.storage.email import QueuedEmail
from shared.db import Connection, Pool
from shared.events import (
    Envelope,
    NotificationDelivered,
    NotificationFailed,
    PersonLinkIssued,
    Topic,
)
from shared.failpoints import crash_here
from shared.outbox import enqueue

log = structlog.get_logger(__name__)
OSLO = ZoneInfo("Europe/Oslo")
EMAIL_NAMESPACE = uuid.UUID("5d0b8c3e-7f61-4a57-9a6e-1c2d3e4f5a6b")
SOURCE = "/services/notifications"
EVENT_TYPES = sorted(kind.event_type for kind in ROUTES)
GIVE_UP_AFTER = 8  # attempts (backoff doubles from 10 s: about 40 minutes in all)

FOOTER = {
    "nb": "Åpne i portalen: {url}\n\n--\nViken Park symbiosebørs. Velg hvilke e-poster du "
    "får under Innstillinger i portalen: {settings}",
    "en": "Open in the portal: {url}\n\n--\nViken Park symbiosis exchange. Choose which "
    "e-mails you get under NotificationsSettings in the portal: {settings}",
}
SETTINGS_PATH = "/settings"
# The e-mail with a one-time link (events.PersonLinkIssued): subject and body by purpose.
LINKS = {
    ("confirm_email", "nb"): (
        "Bekreft e-postadressen din hos Viken Park symbiosebørs",
        "Hei {name},\n\n{company} er registrert på Viken Park symbiosebørs. Bekreft "
        "e-postadressen din for å logge inn:\n\n{url}\n\nLenken kan brukes én gang, til "
        "{expires}. Var det ikke du som registrerte bedriften, kan du se bort fra denne "
        "e-posten.",
    ),
    ("confirm_email", "en"): (
        "Confirm your e-mail address at the Viken Park symbiosis exchange",
        "Hello {name},\n\n{company} is registered at the Viken Park symbiosis exchange. "
        "Confirm your e-mail address to sign in:\n\n{url}\n\nThe link works once, until "
        "{expires}. If you did not register the company, ignore this e-mail.",
    ),
    ("invitation", "nb"): (
        "Du er invitert til {company} på Viken Park symbiosebørs",
        "Hei {name},\n\nDu er invitert til å bli med {company} på Viken Park symbiosebørs. "
        "Velg et passord her:\n\n{url}\n\nLenken kan brukes én gang, til {expires}.",
    ),
    ("invitation", "en"): (
        "You are invited to {company} at the Viken Park symbiosis exchange",
        "Hello {name},\n\nYou are invited to join {company} at the Viken Park symbiosis "
        "exchange. Choose a password here:\n\n{url}\n\nThe link works once, until "
        "{expires}.",
    ),
}
LINK_PATHS = {"confirm_email": "/confirm", "invitation": "/join"}
DIGEST = {
    "nb": ("Dagens varsler fra Viken Park ({count})", "Dette skjedde siden sist:"),
    "en": ("Today's notifications from Viken Park ({count})", "This happened since the last:"),
}


@dataclass(frozen=True)
class Schedule:
    poll_seconds: float = 5.0
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 600.0


async def enqueue_emails(
    conn: Connection, envelope: Envelope, notes: list[Note], settings: NotificationsSettings
) -> None:
    """In the consumer's transaction: one e-mail per notified person, never two; the
    sender is woken (at commit) when there is one."""
    if not notes:
        return
    recipients = await people_store.email_recipients(
        conn, [note.company_id for note in notes], envelope.type
    )
    if not recipients:
        return
    for note in notes:
        for person in recipients.get(note.company_id, []):
            language = person.language
            url = settings.gateway_url + note.link
            footer = FOOTER[language].format(url=url, settings=settings.gateway_url + SETTINGS_PATH)
            body = f"{note.body.in_(language)}\n\n{footer}\n"
            await email_store.queue_email(
                conn,
                email_id=uuid.uuid5(EMAIL_NAMESPACE, f"{envelope.id}/{person.person_id}"),
                event_id=envelope.id,
                event_type=envelope.type,
                person_id=person.person_id,
                company_id=note.company_id,
                to_address=person.email,
                language=language,
                subject=note.title.in_(language),
                body=body,
                status="digest" if person.daily else "queued",
            )
    await email_store.wake_sender(conn)


async def enqueue_link(
    conn: Connection, envelope: Envelope, link: PersonLinkIssued, settings: NotificationsSettings
) -> None:
    """In the consumer's transaction: the e-mail with a person's one-time link, once."""
    if link.company_id is None:
        return
    language = link.language
    subject, body = LINKS[(link.purpose, language)]
    url = f"{settings.gateway_url}{LINK_PATHS[link.purpose]}?{urlencode({'token': link.token})}"
    expires = link.expires_at.astimezone(OSLO).strftime(
        "%d.%m.%Y %H:%M" if language == "nb" else "%d %b %Y, %H:%M"
    )
    words = {"name": link.name, "company": link.company_name, "url": url, "expires": expires}
    await email_store.queue_email(
        conn,
        email_id=uuid.uuid5(EMAIL_NAMESPACE, f"{envelope.id}/{link.person_id}"),
        event_id=envelope.id,
        event_type=envelope.type,
        person_id=link.person_id,
        company_id=link.company_id,
        to_address=link.email,
        language=language,
        subject=subject.format(**words),
        body=body.format(**words) + "\n",
        status="queued",
    )
    await email_store.wake_sender(conn)


def message(
    settings: NotificationsSettings, to: str, subject: str, body: str, email_id: uuid.UUID
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.smtp_sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{email_id}@vikenpark.example>"  # the same on every attempt
    mail.set_content(body)
    return mail


async def smtp_send(settings: NotificationsSettings, mail: EmailMessage) -> None:
    assert settings.smtp_host is not None
    await aiosmtplib.send(
        mail,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        start_tls=settings.smtp_starttls,
        timeout=20,
    )


async def _outcome(conn: Connection, row: QueuedEmail, error: str | None) -> None:
    facts = {
        "delivery_id": row.id,
        "notified_event_id": row.event_id,
        "notified_event_type": row.event_type,
        "channel": "email",
        "company_id": row.company_id,
        "attempts": row.attempts + 1,
        "at": datetime.now(UTC),
    }
    event = (
        NotificationDelivered(**facts)
        if error is None
        else NotificationFailed(**facts, error=error)
    )
    await enqueue(conn, Topic.NOTIFICATIONS, Envelope.wrap(event, source=SOURCE, subject=row.id))


async def send_due(
    pool: Pool, settings: NotificationsSettings, schedule: Schedule = Schedule()
) -> int:
    """Send the queued e-mails that are due; how many were tried.

    Each in a transaction of its own, recorded as sent as soon as the mail server accepted
    it: a crash re-sends at most the one e-mail in flight, and with the same Message-ID
    (made from the e-mail's id before the first try), which mail clients and servers use to
    recognise a copy they already have."""
    tried: list[uuid.UUID] = []
    while True:
        async with pool.acquire() as conn, conn.transaction():
            row = await email_store.claim_due(conn, tried)
            if row is None:
                return len(tried)
            tried.append(row.id)
            try:
                mail = message(settings, row.to_address, row.subject, row.body, row.id)
                await smtp_send(settings, mail)
            except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
                await _failed_attempt(conn, row, repr(exc), schedule)
                continue
            crash_here("email.after_smtp")
            await email_store.mark_sent(conn, row.id)
            await _outcome(conn, row, None)


async def _failed_attempt(
    conn: Connection, row: QueuedEmail, error: str, schedule: Schedule
) -> None:
    attempts = row.attempts + 1
    if attempts >= GIVE_UP_AFTER:
        await email_store.mark_failed(conn, row.id, attempts, error[:1000])
        await _outcome(conn, row, error[:1000])
        return
    delay = min(schedule.backoff_cap_seconds, schedule.backoff_base_seconds * 2 ** (attempts - 1))
    await email_store.retry_later(
        conn, row.id, attempts, error[:1000], random.uniform(delay / 2, delay)
    )
    log.warning("e-mail not sent, will retry", email_id=str(row.id), error=error)


def digest_due(now: datetime, hour: int) -> datetime:
    """The latest digest time (Europe/Oslo) at or before ``now``."""
    local = now.astimezone(OSLO)
    today = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    return today if local >= today else today - timedelta(days=1)


async def send_digests(
    pool: Pool, settings: NotificationsSettings, now: datetime | None = None
) -> int:
    """One e-mail per person with everything gathered for them before the last digest time,
    each person's in a transaction of its own; how many digests were sent."""
    cutoff = digest_due(now or datetime.now(UTC), settings.email_digest_hour)
    sent = 0
    async with pool.acquire() as conn:
        people = await email_store.digest_recipients(conn, cutoff)
    for person_id in people:
        async with pool.acquire() as conn, conn.transaction():
            items = await email_store.claim_digest(conn, person_id, cutoff)
            if not items:
                continue  # sent by another worker meanwhile
            language = items[0].language
            subject, intro = DIGEST["nb" if language == "nb" else "en"]
            parts = [intro, ""] + [f"* {i.subject}\n{i.body}" for i in items]
            mail = message(
                settings,
                items[0].to_address,
                subject.format(count=len(items)),
                "\n".join(parts),
                uuid.uuid5(EMAIL_NAMESPACE, f"digest/{person_id}/{cutoff.isoformat()}"),
            )
            try:
                await smtp_send(settings, mail)
            except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
                log.warning(
                    "digest not sent, will retry", person_id=str(person_id), error=repr(exc)
                )
                continue
            for item in items:
                await email_store.mark_sent(conn, item.id)
                await _outcome(conn, item, None)
            sent += 1
    return sent


async def email_periodically(pool: Pool, settings: NotificationsSettings) -> None:
    """The e-mail worker: woken by NOTIFY, polling as a fallback; waits while no mail
    server is configured."""
    schedule = Schedule()
    if settings.smtp_host is None:
        log.warning("no SMTP server configured (SYMBIOSIS_SMTP_HOST): e-mails wait in the queue")
        await asyncio.Event().wait()  # a loop of the worker runtime never ends by itself
    log.info("e-mail worker started", smtp_host=settings.smtp_host, smtp_port=settings.smtp_port)
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    while True:
        try:
            async with pool.acquire() as listener:
                await listener.add_listener(email_store.CHANNEL, on_notify)
                while True:
                    while await send_due(pool, settings, schedule) > 0:
                        pass
                    await send_digests(pool, settings)
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), schedule.poll_seconds)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("e-mail worker lost the database, retrying", error=repr(exc))
            await asyncio.sleep(1)
        except Exception:  # a bug must not stop the e-mails of everyone else
            log.exception("e-mail worker failed, restarting it")
            await asyncio.sleep(5)
