"""Partners get a listing's price, or a contract's terms, by whether its companies shared them
when the event was made, whatever order the partner feed reads the events in: on a real
PostgreSQL, the listings service writes its company's sharing into each listing event, the
contracts service writes what it knew into ``contract.agreed``, and the notifications
service, handed a listing or a contract before the ``company.changed`` that came first
(the two travel on different partitions), goes by the event's own word."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.contracts import application
from services.contracts import storage as contracts_storage
from services.contracts.config import ContractsSettings
from services.listings import storage as listings_storage
from services.listings.handlers import reserve_for
from services.notifications.config import NotificationsSettings
from services.notifications.handlers import apply_event
from shared.db import Pool
from shared.events import (
    ContractAgreed,
    Envelope,
    ListingPublished,
    PartnerSharing,
    Payload,
    Terms,
    Topic,
)
from tests.events import company_changed, listing_published, wrapped
from tests.support import migrated_pool, org_number

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
EARLIER, LATER = NOW - timedelta(minutes=5), NOW + timedelta(minutes=5)


@pytest.fixture
async def notifications(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


@pytest.fixture
async def listings(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "listings") as pool:
        yield pool


@pytest.fixture
async def contracts(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "contracts") as pool:
        yield pool


def published(company_id: uuid.UUID, shares: bool | None) -> ListingPublished:
    return listing_published(
        company_id, quantity=Decimal(100), published_at=NOW, share_terms_with_partners=shares
    )


async def feed(pool: Pool, *payloads: Payload) -> None:
    """Hand the notifications service these events, in this order, each in its own
    transaction as its consumer applies them."""
    settings = NotificationsSettings()
    for payload in payloads:
        subject = next(
            getattr(payload, name)
            for name in ("listing_id", "contract_id", "company_id")
            if hasattr(payload, name)
        )
        async with pool.acquire() as conn, conn.transaction():
            await apply_event(conn, wrapped(payload, subject), payload, settings)


async def partner_events(pool: Pool, event_type: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", str(Topic.PARTNERS)
    )
    events = [json.loads(bytes(r["payload"])) for r in rows]
    return [e["data"] for e in events if e["type"] == event_type]


async def test_a_listing_read_before_its_company_began_sharing_reaches_partners_with_its_price(
    notifications: Pool,
) -> None:
    company = uuid.uuid4()
    listing = published(company, shares=True)
    # The company did not share; it began to, then posted the listing; the feed reads the
    # listing before the change.
    await feed(
        notifications,
        company_changed(company, False, EARLIER),
        listing,
        company_changed(company, True, NOW),
    )
    (seen,) = await partner_events(notifications, "listing.published")
    assert seen["listing_id"] == str(listing.listing_id)
    assert seen["price_per_unit_ore"] == 9000


async def test_a_listing_read_before_its_company_stopped_sharing_reaches_partners_without_price(
    notifications: Pool,
) -> None:
    company = uuid.uuid4()
    await feed(
        notifications,
        company_changed(company, True, EARLIER),
        published(company, shares=False),
        company_changed(company, False, NOW),
    )
    (seen,) = await partner_events(notifications, "listing.published")
    assert seen["price_per_unit_ore"] is None and seen["title"] == "Sawdust"


async def test_a_listing_event_from_before_the_field_goes_by_the_companys_last_change(
    notifications: Pool,
) -> None:
    company = uuid.uuid4()
    await feed(notifications, company_changed(company, True, EARLIER), published(company, None))
    (seen,) = await partner_events(notifications, "listing.published")
    assert seen["price_per_unit_ore"] == 9000


def agreed(
    supplier: uuid.UUID,
    receiver: uuid.UUID,
    supplier_sharing: PartnerSharing | None,
    receiver_sharing: PartnerSharing | None,
) -> ContractAgreed:
    return ContractAgreed(
        contract_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=supplier,
        receiver_company_id=receiver,
        quantity=Decimal(5),
        unit="t",
        price_per_unit_ore=12000,
        agreed_at=NOW,
        terms=Terms(quantity=Decimal(5), unit="t", price_per_unit_ore=12000),
        supplier_sharing=supplier_sharing,
        receiver_sharing=receiver_sharing,
    )


async def test_a_contract_read_before_its_companies_began_sharing_reaches_partners_with_terms(
    notifications: Pool,
) -> None:
    supplier, receiver = uuid.uuid4(), uuid.uuid4()
    shares = PartnerSharing(share_terms_with_partners=True, changed_at=NOW)
    stopped = PartnerSharing(share_terms_with_partners=False, changed_at=NOW)
    await feed(
        notifications,
        company_changed(supplier, False, EARLIER),
        company_changed(receiver, False, EARLIER),
        # contracts knew both began to share; the feed reads the contract first
        agreed(supplier, receiver, shares, shares),
        # contracts knew the receiver stopped; the feed has it sharing still
        company_changed(receiver, True, EARLIER + timedelta(seconds=1)),
        agreed(supplier, receiver, shares, stopped),
        # the feed knows of a later change than contracts did: that one decides
        company_changed(supplier, False, LATER),
        agreed(supplier, receiver, shares, shares),
    )
    first, second, third = await partner_events(notifications, "contract.agreed")
    assert first["price_per_unit_ore"] == 12000 and first["terms"] is not None
    assert second["price_per_unit_ore"] is None and second["terms"] is None
    assert third["price_per_unit_ore"] is None and third["terms"] is None


async def listing_of(pool: Pool, company_id: uuid.UUID, kind: str) -> uuid.UUID:
    listing_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await listings_storage.insert_company(
            conn, company_id, org_number(), {"name": f"Sawmill {kind} AS"}
        )
        await listings_storage.insert_listing(
            conn,
            {
                "id": listing_id,
                "company_id": company_id,
                "kind": kind,
                "ewc_code": "030105",
                "hazardous": False,
                "title": f"Sawdust {kind}",
                "description": "",
                "quantity": Decimal("100"),
                "remaining_quantity": Decimal("100"),
                "unit": "t",
                "dimension": "mass",
                "quantity_base": Decimal("100000"),
                "frequency": "once",
                "available_from": date.today(),
                "quality": [],
                "transport": "either",
                "price_per_unit_ore": 9000,
                "status": "open",
                "published_at": NOW,
            },
        )
    return listing_id


async def test_a_listings_events_carry_its_companys_sharing_as_it_is_then(listings: Pool) -> None:
    supplier, receiver = uuid.uuid4(), uuid.uuid4()
    offer = await listing_of(listings, supplier, "offer")
    need = await listing_of(listings, receiver, "need")
    # Each contract that takes part of the offer sends it again (listing.updated).
    for shares in (True, False):
        async with listings.acquire() as conn, conn.transaction():
            await listings_storage.update_company(
                conn, supplier, {"share_terms_with_partners": shares}
            )
            contract = ContractAgreed(
                contract_id=uuid.uuid4(),
                offer_id=offer,
                need_id=need,
                supplier_company_id=supplier,
                receiver_company_id=receiver,
                quantity=Decimal("10"),
                unit="t",
                agreed_at=datetime.now(UTC),
            )
            await reserve_for(conn, wrapped(contract, contract.contract_id), contract)
    rows = await listings.fetch("SELECT payload FROM outbox WHERE key = $1 ORDER BY id", str(offer))
    events = [json.loads(bytes(r["payload"])) for r in rows]
    updates = [e["data"] for e in events if e["type"] == "listing.updated"]
    assert [u["share_terms_with_partners"] for u in updates] == [True, False]


async def test_contract_agreed_says_what_contracts_knew_of_each_companys_sharing(
    contracts: Pool,
) -> None:
    supplier, receiver, offer, need = (uuid.uuid4() for _ in range(4))
    async with contracts.acquire() as conn, conn.transaction():
        await application.company_changed(conn, company_changed(supplier, True, NOW))
        # a later change, then an older one redelivered: the later one stays
        await application.company_changed(conn, company_changed(receiver, False, LATER))
        await application.company_changed(conn, company_changed(receiver, True, EARLIER))
        for listing_id, company_id, kind in ((offer, supplier, "offer"), (need, receiver, "need")):
            facts = published(company_id, None).model_copy(
                update={"listing_id": listing_id, "kind": kind}
            )
            await contracts_storage.keep_listing(conn, facts, NOW)
        proposal_id = uuid.uuid4()
        await conn.execute(
            """
            INSERT INTO proposals (id, offer_id, need_id, supplier_company_id,
                                   receiver_company_id, ewc_code, title, quantity, unit, reasons,
                                   proposed_at)
            VALUES ($1, $2, $3, $4, $5, '030105', 'Sawdust', 12, 't', '[]', now())
            """,
            proposal_id,
            offer,
            need,
            supplier,
            receiver,
        )
        proposal = await contracts_storage.proposal(conn, proposal_id)
        # open for a week from now: LATER is five minutes after the module was imported,
        # which a long run passes before this test
        expires = datetime.now(UTC) + timedelta(days=7)
        await contracts_storage.open_negotiation(conn, proposal, 5000, expires)
    for company_id in (supplier, receiver):
        async with contracts.acquire() as conn, conn.transaction():
            terms = await contracts_storage.terms_on_table(conn, proposal_id)
            assert terms is not None
            actor = application.Actor(company_id, uuid.uuid4(), "person")
            await application.accept(conn, proposal_id, actor, terms.id, ContractsSettings(), None)
    rows = await contracts.fetch("SELECT payload FROM outbox ORDER BY id")
    (contract,) = [
        Envelope.model_validate_json(bytes(r["payload"])).payload()
        for r in rows
        if json.loads(bytes(r["payload"]))["type"] == "contract.agreed"
    ]
    assert isinstance(contract, ContractAgreed)
    assert contract.supplier_sharing == PartnerSharing(
        share_terms_with_partners=True, changed_at=NOW
    )
    assert contract.receiver_sharing == PartnerSharing(
        share_terms_with_partners=False, changed_at=LATER
    )
