"""The statements the pipeline sends per event, on a real PostgreSQL (issue 19): each is a
round trip costing CPU on both sides, so the hot path sends no more than it needs, and
what it folds together still does what it did (a COMMIT that PostgreSQL turns into a
rollback is an error; every resource lock is taken; a new note is announced once)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.matching import storage as matching_store
from services.matching.domain import OpenListing
from services.notifications import email
from services.notifications.config import NotificationsSettings
from services.notifications.domain import notes_for
from services.notifications.storage import inbox as inbox_store
from services.notifications.storage.people import email_recipients, remember
from shared.consumer import apply_once
from shared.db import CommitRolledBack, Connection, Pool, create_pool
from shared.events import Envelope, PersonChanged, TradeProposed
from shared.migrations import migrate
from tests.support import migrated_pool

pytestmark = pytest.mark.integration


async def statements(conn: Connection, work: Callable[[], Awaitable[object]]) -> list[str]:
    """The statements ``conn`` sent while ``work`` ran, in order."""
    seen: list[str] = []

    def logged(record: Any) -> None:
        seen.append(" ".join(record.query.split()))

    raw = getattr(conn, "_con", conn)  # the connection behind a pool's proxy
    raw.add_query_logger(logged)
    try:
        await work()
        await asyncio.sleep(0.05)  # query loggers are called soon after, not at once
    finally:
        raw.remove_query_logger(logged)
    return seen


def proposed(supplier: uuid.UUID, receiver: uuid.UUID) -> Envelope:
    payload = TradeProposed(
        proposal_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=supplier,
        receiver_company_id=receiver,
        ewc_code="030105",
        title="Sawdust",
        quantity=1,
        unit="t",
        reasons=("test",),
    )
    return Envelope.wrap(payload, source="/tests", subject=payload.proposal_id)


@pytest.fixture
async def plain(database_url: str, tmp_path: Any) -> AsyncIterator[Pool]:
    """A pool of one connection on a schema with the consumer's table and a table of effects."""
    (tmp_path / "0001_effects.sql").write_text("CREATE TABLE effects (event_id uuid);")
    schema = f"statements_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url, schema, min_size=1, max_size=1)
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await migrate(conn, schema, tmp_path)
    yield pool
    await pool.close()


@pytest.fixture
async def notifications(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


async def test_a_commit_that_postgresql_rolls_back_is_an_error(plain: Pool) -> None:
    async with plain.acquire() as conn:
        with pytest.raises(CommitRolledBack):
            async with conn.transaction():
                await conn.execute("INSERT INTO effects VALUES (gen_random_uuid())")
                with contextlib.suppress(asyncpg.DivisionByZeroError):
                    await conn.execute("SELECT 1 / 0")  # the transaction is now aborted
        assert await conn.fetchval("SELECT count(*) FROM effects") == 0
        assert not conn.is_in_transaction()
        async with conn.transaction():  # the connection goes on as usual
            await conn.execute("INSERT INTO effects VALUES (gen_random_uuid())")
        assert await conn.fetchval("SELECT count(*) FROM effects") == 1


async def test_an_event_applied_on_its_own_takes_its_claim_its_effect_and_a_commit(
    plain: Pool,
) -> None:
    """No statement beyond the transaction, the event's claim and its effect (a `SELECT 1`
    before COMMIT checked the transaction still stood)."""
    event = proposed(uuid.uuid4(), uuid.uuid4())

    async def effect(conn: Connection) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1)", event.id)

    async with plain.acquire() as conn:  # the pool's one connection, which apply_once takes
        raw = conn._con  # type: ignore[attr-defined]
    sent = await statements(raw, lambda: apply_once(plain, "single", "t", event, effect))
    assert [s.split()[0].rstrip(";") for s in sent] == ["BEGIN", "INSERT", "INSERT", "COMMIT"], sent
    assert await plain.fetchval("SELECT count(*) FROM effects") == 1


async def test_the_matcher_takes_all_of_a_listings_locks_in_one_statement(plain: Pool) -> None:
    keys = ["class:wood", "ewc:030105", "use:boiler_fuel"]
    async with plain.acquire() as conn, conn.transaction():
        sent = await statements(conn, lambda: matching_store.lock_resources(conn, keys))
        assert len(sent) == 1, sent
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert held == len(keys)
        wanted = await conn.fetch(
            "SELECT hashtext('matching.resource.' || k) AS h FROM unnest($1::text[]) k", keys
        )
        mine = await conn.fetch(
            "SELECT objid::int AS h FROM pg_locks "
            "WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert {r["h"] for r in wanted} == {r["h"] for r in mine}


async def test_indexing_a_listing_is_two_statements(database_url: str) -> None:
    """The listing with its old key rows gone, then its new key rows (three before: the
    old rows went in a statement of their own)."""
    listing = OpenListing(
        uuid.uuid4(), uuid.uuid4(), "offer", "030105", None, "Sagflis", Decimal(5), "t"
    )
    async with migrated_pool(database_url, "matching") as pool, pool.acquire() as conn:
        await matching_store.index_listing(conn, listing, "v1")  # asyncpg learns the types
        sent = await statements(conn, lambda: matching_store.index_listing(conn, listing, "v1"))
        assert len(sent) == 2, sent
        assert sent[0].startswith("WITH stale AS ( DELETE FROM open_listing_keys"), sent


async def test_a_note_and_its_announcement_are_one_statement(notifications: Pool) -> None:
    heard: list[str] = []

    def on_notify(*args: Any) -> None:
        heard.append(args[3])

    listener = await notifications.acquire()
    await listener.add_listener(inbox_store.CHANNEL, on_notify)
    try:
        envelope = proposed(uuid.uuid4(), uuid.uuid4())
        note = notes_for(envelope.id, envelope.payload())[0]

        async def add() -> bool:
            return await inbox_store.add_note(
                conn, note, envelope.id, envelope.type, envelope.subject
            )

        async with notifications.acquire() as conn:
            async with conn.transaction():
                sent = await statements(conn, add)
                assert len(sent) == 1, sent
                await asyncio.sleep(0.2)
                assert heard == []  # announced at commit, not before
            async with conn.transaction():
                assert not await add()  # redelivered: no second note, no announcement
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert heard == [f"{note.company_id} {note.id}"]
        count = await notifications.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = $1", envelope.id
        )
        assert count == 1
    finally:
        await listener.remove_listener(inbox_store.CHANNEL, on_notify)
        await notifications.release(listener)


def person(company: uuid.UUID, name: str) -> PersonChanged:
    return PersonChanged(
        person_id=uuid.uuid4(),
        company_id=company,
        email=f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.no",
        name=name,
        language="en",
        role="member",
        status="active",
    )


async def test_the_people_of_both_parties_are_read_in_one_statement(notifications: Pool) -> None:
    """An event with two notes reads both companies' recipients at once; an event whose
    companies have nobody to e-mail queues nothing and wakes no sender."""
    settings = NotificationsSettings()
    supplier, receiver = uuid.uuid4(), uuid.uuid4()
    async with notifications.acquire() as conn:
        await remember(conn, person(supplier, "Kari"))
        await remember(conn, person(receiver, "John"))
        await email_recipients(conn, [supplier], "trade.proposed")  # asyncpg learns uuid[]
        envelope = proposed(supplier, receiver)
        notes = notes_for(envelope.id, envelope.payload())
        async with conn.transaction():
            sent = await statements(
                conn, lambda: email.enqueue_emails(conn, envelope, notes, settings)
            )
        assert [s.split()[0] for s in sent] == ["SELECT", "INSERT", "INSERT", "NOTIFY"], sent
        queued = await conn.fetch(
            "SELECT company_id FROM emails WHERE event_id = $1 ORDER BY company_id", envelope.id
        )
        assert {r["company_id"] for r in queued} == {supplier, receiver}

        nobody = proposed(uuid.uuid4(), uuid.uuid4())
        notes = notes_for(nobody.id, nobody.payload())
        async with conn.transaction():
            sent = await statements(
                conn, lambda: email.enqueue_emails(conn, nobody, notes, settings)
            )
        assert [s.split()[0] for s in sent] == ["SELECT"], sent
