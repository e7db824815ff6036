"""The e-mail channel on a real SMTP server (aiosmtpd) and PostgreSQL: the right people, in
their language, once; daily digests; outages retried, then given up and reported."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from services.notifications import email
from services.notifications.config import NotificationsSettings
from services.notifications.domain import notes_for
from services.notifications.storage.people import remember
from shared.db import Pool
from shared.events import Envelope, NegotiationCountered, PersonChanged, Terms
from shared.settings import Settings
from tests.conftest import MailDrop
from tests.support import free_port, migrated_pool

pytestmark = pytest.mark.integration

SUPPLIER, RECEIVER = uuid.uuid4(), uuid.uuid4()
FAST = email.Schedule(poll_seconds=0.2, backoff_base_seconds=0.0, backoff_cap_seconds=0.0)


@pytest.fixture
def smtp() -> Iterator[tuple[MailDrop, int]]:
    inbox, port = MailDrop(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


def person(company: uuid.UUID, name: str, language: str, status: str = "active") -> PersonChanged:
    return PersonChanged(
        person_id=uuid.uuid4(),
        company_id=company,
        email=f"{name.lower()}@example.no",
        name=name,
        language=language,  # type: ignore[arg-type]
        role="member",
        status=status,  # type: ignore[arg-type]
    )


def countered() -> Envelope:
    event = NegotiationCountered(
        negotiation_id=uuid.uuid4(),
        supplier_company_id=SUPPLIER,
        receiver_company_id=RECEIVER,
        title="Sawdust",
        by_company_id=RECEIVER,
        terms=Terms(quantity=8, unit="t", price_per_unit_ore=15050),
        at=datetime.now(UTC),
    )
    return Envelope.wrap(event, source="/tests", subject=event.negotiation_id)


async def notify(pool: Pool, envelope: Envelope, settings: Settings) -> None:
    notes = notes_for(envelope.id, envelope.payload())
    async with pool.acquire() as conn, conn.transaction():
        await email.enqueue_emails(conn, envelope, notes, settings)


async def outbox_types(pool: Pool) -> list[str]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [Envelope.model_validate_json(bytes(r["payload"])).type for r in rows]


async def test_the_right_people_get_one_e_mail_each_in_their_language(
    pool: Pool, smtp: tuple[MailDrop, int]
) -> None:
    inbox, port = smtp
    settings = NotificationsSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    kari, john = person(SUPPLIER, "Kari", "nb"), person(SUPPLIER, "John", "en")
    quiet, invited = person(SUPPLIER, "Quiet", "en"), person(SUPPLIER, "Newbie", "nb", "invited")
    countering = person(RECEIVER, "Other", "nb")
    async with pool.acquire() as conn:
        for someone in (kari, john, quiet, invited, countering):
            await remember(conn, someone)
        await conn.execute(
            "INSERT INTO person_email_preferences VALUES ($1, 'negotiation.countered', false)",
            quiet.person_id,
        )
    envelope = countered()
    await notify(pool, envelope, settings)
    await notify(pool, envelope, settings)  # redelivered: nothing more
    assert await email.send_due(pool, settings, FAST) == 2
    assert await email.send_due(pool, settings, FAST) == 0
    by_address = {m["To"]: m for m in inbox.messages}
    assert sorted(by_address) == ["john@example.no", "kari@example.no"]
    norwegian, english = by_address["kari@example.no"], by_address["john@example.no"]
    assert norwegian["Subject"] == "Motbud: Sawdust"
    assert "8 t til kr 150,50 per t" in norwegian.get_payload(decode=True).decode()
    assert english["Subject"] == "Counter-offer: Sawdust"
    text = english.get_payload(decode=True).decode()
    assert f"{settings.gateway_url}/negotiations/" in text and "Settings in the portal" in text
    assert await outbox_types(pool) == ["notification.delivered"] * 2


async def test_a_daily_digest_gathers_a_persons_e_mails_into_one(
    pool: Pool, smtp: tuple[MailDrop, int]
) -> None:
    inbox, port = smtp
    settings = NotificationsSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    kari = person(SUPPLIER, "Kari", "nb")
    async with pool.acquire() as conn:
        await remember(conn, kari)
        await conn.execute("INSERT INTO email_digests VALUES ($1, true)", kari.person_id)
    for _ in range(3):
        await notify(pool, countered(), settings)
    assert await email.send_due(pool, settings, FAST) == 0  # nothing one by one
    assert await email.send_digests(pool, settings, datetime.now(UTC) - timedelta(days=2)) == 0
    tomorrow = datetime.now(UTC) + timedelta(days=1, hours=1)
    assert await email.send_digests(pool, settings, tomorrow) == 1
    assert await email.send_digests(pool, settings, tomorrow) == 0
    [digest] = inbox.messages
    assert digest["Subject"] == "Dagens varsler fra Viken Park (3)"
    assert digest.get_payload(decode=True).decode().count("Motbud: Sawdust") == 3


async def test_an_outage_is_retried_then_given_up_and_reported(pool: Pool) -> None:
    settings = NotificationsSettings(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False
    )
    async with pool.acquire() as conn:
        await remember(conn, person(SUPPLIER, "Kari", "nb"))
    await notify(pool, countered(), settings)
    assert await email.send_due(pool, settings, FAST) == 1
    row = await pool.fetchrow("SELECT status, attempts, last_error FROM emails")
    assert row is not None and (row["status"], row["attempts"]) == ("queued", 1)
    assert row["last_error"]
    for _ in range(email.GIVE_UP_AFTER - 1):
        await asyncio.sleep(0.01)
        await email.send_due(pool, settings, FAST)
    row = await pool.fetchrow("SELECT status, attempts FROM emails")
    assert row is not None and (row["status"], row["attempts"]) == ("failed", email.GIVE_UP_AFTER)
    assert await outbox_types(pool) == ["notification.failed"]
