"""All SQL of the contracts service: here what trades are made of (proposals, negotiations
and their terms, contracts, deliveries, what each listing and company is), and in
`invoices` and `figures` invoicing and the figures. Rows come back as the domain's frozen
dataclasses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.contracts.domain.capacity import Hold, Listing
from services.contracts.domain.contract import Contract, Delivery
from services.contracts.domain.invoice import Party
from services.contracts.domain.negotiation import Negotiation, Proposal, Step, Terms
from shared.db import Connection, Row, record_as, records_as
from shared.events import (
    CompanyChanged,
    CompanyDetailsChanged,
    ListingFacts,
    PartnerSharing,
    ReasonDetail,
    TradeProposed,
)


def row(cls: type[Row], record: asyncpg.Record | None) -> Row | None:
    """The record as the dataclass ``cls`` (``shared.db.record_as``), or None."""
    return None if record is None else record_as(cls, record)


def rows(cls: type[Row], records: Iterable[asyncpg.Record]) -> list[Row]:
    return records_as(cls, records)


def one(cls: type[Row], record: asyncpg.Record | None) -> Row:
    """The record a statement always returns, as the dataclass ``cls``."""
    assert record is not None
    return record_as(cls, record)


async def record_proposal(
    conn: Connection, proposal: TradeProposed, proposed_at: datetime
) -> Proposal | None:
    """Record a proposal, or a retracted one proposed again: its row as recorded; None if
    nothing changed."""
    recorded = await conn.fetchrow(
        """
        INSERT INTO proposals (id, offer_id, need_id, supplier_company_id, receiver_company_id,
                               ewc_code, resource_class, title, quantity, unit, reasons,
                               proposed_at, value, origin)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (id) DO UPDATE SET
            status = 'proposed', quantity = excluded.quantity, reasons = excluded.reasons,
            value = excluded.value
        WHERE proposals.status = 'retracted'
        RETURNING *
        """,
        proposal.proposal_id,
        proposal.offer_id,
        proposal.need_id,
        proposal.supplier_company_id,
        proposal.receiver_company_id,
        proposal.ewc_code,
        proposal.resource_class,
        proposal.title,
        proposal.quantity,
        proposal.unit,
        list(proposal.reasons),
        proposed_at,
        None if proposal.value is None else proposal.value.model_dump(mode="json"),
        proposal.origin,
    )
    return row(Proposal, recorded)


async def retract_proposal(conn: Connection, proposal_id: uuid.UUID) -> None:
    """The matcher withdrew its proposal; one already in negotiation is left to its parties."""
    await conn.execute(
        "UPDATE proposals SET status = 'retracted' WHERE id = $1 AND status = 'proposed'",
        proposal_id,
    )


async def proposals_of(conn: Connection, company_id: uuid.UUID) -> list[Proposal]:
    return rows(
        Proposal,
        await conn.fetch(
            """
            SELECT * FROM proposals WHERE supplier_company_id = $1 OR receiver_company_id = $1
            ORDER BY proposed_at DESC, id
            """,
            company_id,
        ),
    )


async def proposal(conn: Connection, proposal_id: uuid.UUID) -> Proposal:
    return one(Proposal, await conn.fetchrow("SELECT * FROM proposals WHERE id = $1", proposal_id))


async def proposal_of(
    conn: Connection, proposal_id: uuid.UUID, company_id: uuid.UUID
) -> Proposal | None:
    return row(
        Proposal,
        await conn.fetchrow(
            """
            SELECT * FROM proposals
            WHERE id = $1 AND (supplier_company_id = $2 OR receiver_company_id = $2)
            """,
            proposal_id,
            company_id,
        ),
    )


async def cut_proposal(conn: Connection, proposal_id: uuid.UUID, quantity: Decimal) -> None:
    """The proposal's quantity as the exchange cut it (in the proposal's unit)."""
    await conn.execute(
        "UPDATE proposals SET quantity = least(quantity, $2) WHERE id = $1", proposal_id, quantity
    )


# Negotiations ---------------------------------------------------------------------------


async def open_negotiation(
    conn: Connection, proposal: Proposal, price: int | None, expires_at: datetime
) -> None:
    """Open (or reopen, for a proposal made again) the negotiation of a proposal, with the
    exchange's terms on the table."""
    reopened = await conn.fetchval(
        """
        INSERT INTO negotiations (id, supplier_company_id, receiver_company_id, expires_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET status = 'open', updated_at = now(),
            expires_at = excluded.expires_at
        WHERE negotiations.status = 'withdrawn'
        RETURNING true
        """,
        proposal.id,
        proposal.supplier_company_id,
        proposal.receiver_company_id,
        expires_at,
    )
    if not reopened:
        return
    await close_open_terms(conn, proposal.id, "superseded")
    await insert_terms(
        conn,
        proposal.id,
        "exchange",
        quantity=proposal.quantity,
        unit=proposal.unit,
        price=price,
        delivery_from=None,
        delivery_until=None,
        transport="receiver",
        schedule="once",
    )
    await add_step(conn, proposal.id, None, None, None, "proposed", None)


async def insert_terms(
    conn: Connection,
    negotiation_id: uuid.UUID,
    proposed_by: str,
    *,
    quantity: Decimal,
    unit: str,
    price: int | None,
    delivery_from: date | None,
    delivery_until: date | None,
    transport: str,
    schedule: str,
) -> Terms:
    """New terms on the table, accepted by the side that proposed them."""
    return one(
        Terms,
        await conn.fetchrow(
            """
            INSERT INTO terms (id, negotiation_id, version, proposed_by, quantity, unit,
                               price_per_unit_ore, delivery_from, delivery_until, transport,
                               schedule, supplier_accepted_at, receiver_accepted_at)
            VALUES ($1, $2,
                    (SELECT coalesce(max(version), 0) + 1 FROM terms WHERE negotiation_id = $2),
                    $3, $4, $5, $6, $7, $8, $9, $10,
                    CASE WHEN $3 = 'supplier' THEN now() END,
                    CASE WHEN $3 = 'receiver' THEN now() END)
            RETURNING *
            """,
            uuid.uuid4(),
            negotiation_id,
            proposed_by,
            quantity,
            unit,
            price,
            delivery_from,
            delivery_until,
            transport,
            schedule,
        ),
    )


async def add_step(
    conn: Connection,
    negotiation_id: uuid.UUID,
    company_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    actor_kind: str | None,
    action: str,
    terms_id: uuid.UUID | None,
    note: str | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO negotiation_steps (negotiation_id, company_id, actor_id, actor_kind, action,
                                       terms_id, note)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        negotiation_id,
        company_id,
        actor_id,
        actor_kind,
        action,
        terms_id,
        note,
    )


async def withdraw_untouched_negotiation(conn: Connection, proposal_id: uuid.UUID) -> None:
    """The matcher retracted its proposal: a negotiation nobody has answered goes with it;
    one a party has answered is left to the parties."""
    withdrawn = await conn.fetchval(
        """
        UPDATE negotiations n SET status = 'withdrawn', updated_at = now()
        WHERE id = $1 AND status = 'open' AND NOT EXISTS (
            SELECT 1 FROM negotiation_steps s
            WHERE s.negotiation_id = n.id AND s.company_id IS NOT NULL
        )
        RETURNING true
        """,
        proposal_id,
    )
    if withdrawn:
        await close_open_terms(conn, proposal_id, "superseded")
        await add_step(conn, proposal_id, None, None, None, "withdrawn", None)


_NEGOTIATION = """
    SELECT n.*, p.offer_id, p.need_id, p.title, p.ewc_code, p.resource_class, p.reasons,
           p.value, p.origin, p.unit AS proposal_unit
    FROM negotiations n JOIN proposals p ON p.id = n.id"""


async def negotiation(
    conn: Connection, negotiation_id: uuid.UUID, company_id: uuid.UUID | None, lock: bool = False
) -> Negotiation | None:
    """The negotiation if the company is a party (any company when None)."""
    return row(
        Negotiation,
        await conn.fetchrow(
            f"""
            {_NEGOTIATION}
            WHERE n.id = $1 AND ($2::uuid IS NULL OR $2 IN (n.supplier_company_id,
                                                             n.receiver_company_id))
            {"FOR UPDATE OF n" if lock else ""}
            """,
            negotiation_id,
            company_id,
        ),
    )


async def negotiations_of(conn: Connection, company_id: uuid.UUID | None) -> list[Negotiation]:
    return rows(
        Negotiation,
        await conn.fetch(
            f"""
            {_NEGOTIATION}
            WHERE $1::uuid IS NULL OR $1 IN (n.supplier_company_id, n.receiver_company_id)
            ORDER BY n.updated_at DESC, n.id LIMIT 500
            """,
            company_id,
        ),
    )


async def open_negotiations_on(
    conn: Connection, offer_id: uuid.UUID, need_id: uuid.UUID, other_than: uuid.UUID
) -> list[Negotiation]:
    """The other open negotiations about this offer or this need, locked, in id order."""
    return rows(
        Negotiation,
        await conn.fetch(
            f"""
            {_NEGOTIATION}
            WHERE n.status = 'open' AND n.id <> $3 AND (p.offer_id = $1 OR p.need_id = $2)
            ORDER BY n.id
            FOR UPDATE OF n
            """,
            offer_id,
            need_id,
            other_than,
        ),
    )


async def terms_of(conn: Connection, negotiation_id: uuid.UUID) -> list[Terms]:
    return rows(
        Terms,
        await conn.fetch(
            "SELECT * FROM terms WHERE negotiation_id = $1 ORDER BY version", negotiation_id
        ),
    )


async def terms_on_table(conn: Connection, negotiation_id: uuid.UUID) -> Terms | None:
    return row(
        Terms,
        await conn.fetchrow(
            "SELECT * FROM terms WHERE negotiation_id = $1 AND status = 'open'", negotiation_id
        ),
    )


async def steps_of(conn: Connection, negotiation_id: uuid.UUID) -> list[Step]:
    return rows(
        Step,
        await conn.fetch(
            "SELECT * FROM negotiation_steps WHERE negotiation_id = $1 ORDER BY id",
            negotiation_id,
        ),
    )


async def close_open_terms(conn: Connection, negotiation_id: uuid.UUID, status: str) -> None:
    """Take the terms on the table off it, as ``superseded``, ``expired``, ..."""
    await conn.execute(
        "UPDATE terms SET status = $2 WHERE negotiation_id = $1 AND status = 'open'",
        negotiation_id,
        status,
    )


async def contract_of_negotiation(conn: Connection, negotiation_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM contracts WHERE negotiation_id = $1", negotiation_id
    )
    return found


async def mark_proposal_agreed(conn: Connection, proposal_id: uuid.UUID) -> None:
    await conn.execute("UPDATE proposals SET status = 'agreed' WHERE id = $1", proposal_id)


async def set_terms_status(conn: Connection, terms_id: uuid.UUID, status: str) -> None:
    await conn.execute("UPDATE terms SET status = $2 WHERE id = $1", terms_id, status)


async def accept_terms(conn: Connection, terms_id: uuid.UUID, side: str) -> Terms:
    column = "supplier_accepted_at" if side == "supplier" else "receiver_accepted_at"
    return one(
        Terms,
        await conn.fetchrow(
            f"UPDATE terms SET {column} = now() WHERE id = $1 RETURNING *", terms_id
        ),
    )


async def set_negotiation(
    conn: Connection, negotiation_id: uuid.UUID, status: str, expires_at: datetime | None = None
) -> None:
    await conn.execute(
        """
        UPDATE negotiations SET status = $2, updated_at = now(),
            expires_at = coalesce($3, expires_at)
        WHERE id = $1
        """,
        negotiation_id,
        status,
        expires_at,
    )


async def expiring_negotiations(conn: Connection, limit: int = 100) -> list[Negotiation]:
    return rows(
        Negotiation,
        await conn.fetch(
            f"""
            {_NEGOTIATION}
            WHERE n.id IN (
                SELECT id FROM negotiations WHERE status = 'open' AND expires_at < now()
                ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
            )
            """,
            limit,
        ),
    )


# What each listing is and what contracts hold of it ---------------------------------------


async def keep_listing(conn: Connection, facts: ListingFacts, at: datetime) -> None:
    """Remember a listing as its latest event describes it (an older event changes nothing)."""
    await conn.execute(
        """
        INSERT INTO listings (id, company_id, kind, title, quantity, unit, frequency, status,
                              ewc_code, hazardous, updated_at, available_from)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $11)
        ON CONFLICT (id) DO UPDATE SET
            title = excluded.title, quantity = excluded.quantity, unit = excluded.unit,
            frequency = excluded.frequency, status = 'open', updated_at = excluded.updated_at,
            available_from = excluded.available_from
        WHERE listings.updated_at <= excluded.updated_at
        """,
        facts.listing_id,
        facts.company_id,
        facts.kind,
        facts.title,
        facts.quantity,
        facts.unit,
        facts.frequency,
        facts.ewc_code,
        facts.hazardous,
        at,
        facts.available_from,
    )


async def withdraw_listing(conn: Connection, listing_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE listings SET status = 'withdrawn', updated_at = $2 WHERE id = $1",
        listing_id,
        at,
    )


async def lock_listings(conn: Connection, listing_ids: list[uuid.UUID]) -> dict[uuid.UUID, Listing]:
    """The listings, locked in id order (so agreements on one listing take turns)."""
    found = rows(
        Listing,
        await conn.fetch(
            "SELECT * FROM listings WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
            sorted(set(listing_ids)),
        ),
    )
    return {listing.id: listing for listing in found}


async def listing(conn: Connection, listing_id: uuid.UUID) -> Listing | None:
    return row(Listing, await conn.fetchrow("SELECT * FROM listings WHERE id = $1", listing_id))


async def holds_on(conn: Connection, listing_id: uuid.UUID) -> list[Hold]:
    """What each contract takes of the listing: all of it while active or completed, what it
    kept once cancelled."""
    return rows(
        Hold,
        await conn.fetch(
            """
            SELECT id AS contract_id,
                   CASE WHEN status = 'cancelled' THEN coalesce(kept_quantity, 0)
                        ELSE quantity END AS quantity,
                   unit, schedule, delivery_from, delivery_until,
                   (agreed_at AT TIME ZONE 'Europe/Oslo')::date AS agreed_on
            FROM contracts
            WHERE (offer_id = $1 OR need_id = $1)
              AND (status <> 'cancelled' OR kept_quantity > 0)
            """,
            listing_id,
        ),
    )


# Companies -----------------------------------------------------------------------------------


async def keep_company(conn: Connection, company: CompanyDetailsChanged) -> None:
    address = company.address
    await conn.execute(
        """
        INSERT INTO companies (id, name, org_number, street, postcode, city, country,
                               vat_registered, bank_account, language, permits, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (id) DO UPDATE SET
            name = excluded.name, org_number = excluded.org_number, street = excluded.street,
            postcode = excluded.postcode, city = excluded.city, country = excluded.country,
            vat_registered = excluded.vat_registered, bank_account = excluded.bank_account,
            language = excluded.language, permits = excluded.permits,
            changed_at = excluded.changed_at
        WHERE companies.changed_at <= excluded.changed_at
        """,
        company.company_id,
        company.name,
        company.org_number,
        address.street if address else None,
        address.postcode if address else None,
        address.city if address else None,
        address.country if address else "NO",
        company.vat_registered,
        company.bank_account,
        company.language,
        list(company.permits),
        company.changed_at,
    )


async def keep_sharing(conn: Connection, company: CompanyChanged) -> None:
    """Remember whether the company shares its terms with partners (an older change never
    overwrites a newer)."""
    await conn.execute(
        """
        INSERT INTO partner_sharing (company_id, share_terms_with_partners, changed_at)
        VALUES ($1, $2, $3)
        ON CONFLICT (company_id) DO UPDATE SET
            share_terms_with_partners = excluded.share_terms_with_partners,
            changed_at = excluded.changed_at
        WHERE partner_sharing.changed_at <= excluded.changed_at
        """,
        company.company_id,
        company.share_terms_with_partners,
        company.changed_at,
    )


async def sharing(conn: Connection, company_id: uuid.UUID) -> PartnerSharing | None:
    """Whether the company shares its terms with partners, as last heard; None: never."""
    record = await conn.fetchrow(
        "SELECT share_terms_with_partners, changed_at FROM partner_sharing WHERE company_id = $1",
        company_id,
    )
    return PartnerSharing(**dict(record)) if record else None


async def company(conn: Connection, company_id: uuid.UUID) -> Party | None:
    record = await conn.fetchrow("SELECT * FROM companies WHERE id = $1", company_id)
    if record is None:
        return None
    return Party(
        company_id=record["id"],
        name=record["name"],
        org_number=record["org_number"],
        street=record["street"],
        postcode=record["postcode"],
        city=record["city"],
        country=record["country"],
        vat_registered=record["vat_registered"],
        bank_account=record["bank_account"],
        language=record["language"],
        permits=tuple(record["permits"]),
    )


# Contracts and deliveries -----------------------------------------------------------------


async def insert_contract(conn: Connection, negotiation: Negotiation, terms: Terms) -> Contract:
    return one(
        Contract,
        await conn.fetchrow(
            """
            INSERT INTO contracts (id, negotiation_id, terms_id, offer_id, need_id,
                                   supplier_company_id, receiver_company_id, title, ewc_code,
                                   resource_class, quantity, unit, price_per_unit_ore,
                                   delivery_from, delivery_until, transport, schedule, value)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                    $18)
            RETURNING *
            """,
            uuid.uuid4(),
            negotiation.id,
            terms.id,
            negotiation.offer_id,
            negotiation.need_id,
            negotiation.supplier_company_id,
            negotiation.receiver_company_id,
            negotiation.title,
            negotiation.ewc_code,
            negotiation.resource_class,
            terms.quantity,
            terms.unit,
            terms.price_per_unit_ore,
            terms.delivery_from,
            terms.delivery_until,
            terms.transport,
            terms.schedule,
            negotiation.value,
        ),
    )


async def contract(
    conn: Connection, contract_id: uuid.UUID, company_id: uuid.UUID | None, lock: bool = False
) -> Contract | None:
    return row(
        Contract,
        await conn.fetchrow(
            f"""
            SELECT * FROM contracts
            WHERE id = $1 AND ($2::uuid IS NULL OR $2 IN (supplier_company_id,
                                                          receiver_company_id))
            {"FOR UPDATE" if lock else ""}
            """,
            contract_id,
            company_id,
        ),
    )


async def contracts_of(
    conn: Connection, company_id: uuid.UUID | None, limit: int = 500, offset: int = 0
) -> list[Contract]:
    return rows(
        Contract,
        await conn.fetch(
            """
            SELECT * FROM contracts
            WHERE $1::uuid IS NULL OR $1 IN (supplier_company_id, receiver_company_id)
            ORDER BY agreed_at DESC, id LIMIT $2 OFFSET $3
            """,
            company_id,
            limit,
            offset,
        ),
    )


async def end_contract(
    conn: Connection,
    contract_id: uuid.UUID,
    status: str,
    reason: str | None,
    kept: Decimal | None = None,
    detail: ReasonDetail | None = None,
    typed: str | None = None,
) -> Contract:
    """End the contract; ``reason`` is the English text, ``detail`` the same as a code and
    ``typed`` what a person wrote with it."""
    return one(
        Contract,
        await conn.fetchrow(
            """
            UPDATE contracts SET status = $2, status_reason = $3, ended_at = now(),
                kept_quantity = $4, status_reason_detail = $5, status_reason_typed = $6
            WHERE id = $1 RETURNING *
            """,
            contract_id,
            status,
            reason,
            kept,
            None if detail is None else detail.model_dump(mode="json"),
            typed,
        ),
    )


async def reopen_contract(
    conn: Connection, contract_id: uuid.UUID, reason: str, detail: ReasonDetail, typed: str
) -> None:
    """A completed contract runs again (a confirmed delivery was disputed)."""
    await conn.execute(
        """
        UPDATE contracts SET status = 'active', status_reason = $2, ended_at = NULL,
            status_reason_detail = $3, status_reason_typed = $4
        WHERE id = $1 AND status = 'completed'
        """,
        contract_id,
        reason,
        detail.model_dump(mode="json"),
        typed,
    )


async def deliveries_of(conn: Connection, contract_id: uuid.UUID) -> list[Delivery]:
    return rows(
        Delivery,
        await conn.fetch(
            "SELECT * FROM deliveries WHERE contract_id = $1 "
            "ORDER BY delivered_on, recorded_at, id",
            contract_id,
        ),
    )


async def insert_delivery(
    conn: Connection,
    contract_id: uuid.UUID,
    quantity: Decimal,
    unit: str,
    delivered_on: date,
    note: str | None,
    recorded_by: uuid.UUID,
    *,
    carrier: dict[str, Any] | None = None,
    measurement: str | None = None,
    weighbridge_ticket: str | None = None,
    declaration: dict[str, Any] | None = None,
) -> Delivery:
    return one(
        Delivery,
        await conn.fetchrow(
            """
            INSERT INTO deliveries (id, contract_id, quantity, unit, delivered_on,
                                    weighbridge_note, recorded_by, carrier, measurement,
                                    weighbridge_ticket, declaration)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *
            """,
            uuid.uuid4(),
            contract_id,
            quantity,
            unit,
            delivered_on,
            note,
            recorded_by,
            carrier,
            measurement,
            weighbridge_ticket,
            declaration,
        ),
    )


async def delivery(
    conn: Connection, delivery_id: uuid.UUID, company_id: uuid.UUID | None, lock: bool = False
) -> Delivery | None:
    """The delivery if the company is a party to its contract (any, for None); locked with
    its contract."""
    return row(
        Delivery,
        await conn.fetchrow(
            f"""
            SELECT d.* FROM deliveries d JOIN contracts c ON c.id = d.contract_id
            WHERE d.id = $1
              AND ($2::uuid IS NULL OR $2 IN (c.supplier_company_id, c.receiver_company_id))
            {"FOR UPDATE OF d, c" if lock else ""}
            """,
            delivery_id,
            company_id,
        ),
    )


async def answer_delivery(
    conn: Connection,
    delivery_id: uuid.UUID,
    status: str,
    answered_by: uuid.UUID,
    reason: str | None,
) -> Delivery:
    return one(
        Delivery,
        await conn.fetchrow(
            """
            UPDATE deliveries SET status = $2, answered_by = $3, answered_at = now(),
                dispute_reason = $4,
                confirmed_at = CASE WHEN $2 = 'confirmed' THEN now() ELSE confirmed_at END
            WHERE id = $1 RETURNING *
            """,
            delivery_id,
            status,
            answered_by,
            reason,
        ),
    )


async def add_declaration(
    conn: Connection, delivery_id: uuid.UUID, declaration: dict[str, Any]
) -> Delivery:
    return one(
        Delivery,
        await conn.fetchrow(
            "UPDATE deliveries SET declaration = $2 WHERE id = $1 RETURNING *",
            delivery_id,
            declaration,
        ),
    )
