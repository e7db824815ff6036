"""SQL of invoicing: the invoice queue and its Stripe state, the companies' Stripe
customers and accounts, the MVA tax rate, Stripe's events seen, and the impact ledger
written for each confirmed delivery."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.contracts.domain.invoice import CreditNote, Invoice
from services.contracts.storage import one, row, rows
from shared.db import Connection, Pool
from shared.events import ReasonDetail

Db = Connection | Pool


# --- Queuing and numbering (application.py) ------------------------------------------------


@dataclass(frozen=True)
class NewInvoice:
    """What a delivery's invoice is made with, before it waits for the parties' details."""

    id: uuid.UUID
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    payer_company_id: uuid.UUID
    payee_company_id: uuid.UUID
    description: str
    quantity: Decimal
    unit: str
    unit_price_ore: int
    net_ore: int
    mva_ore: int
    total_ore: int
    platform_fee_ore: int
    status: str
    delivery_date: date
    gate_fee: bool


_NEW_INVOICE_COLUMNS = [f.name for f in dataclasses.fields(NewInvoice)]


async def insert_invoice(conn: Connection, invoice: NewInvoice) -> Invoice | None:
    """Record a delivery's invoice once (the billing worker is woken at commit); None when
    the delivery has one already."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO invoices ({", ".join(_NEW_INVOICE_COLUMNS)})
        VALUES ({", ".join(f"${i}" for i in range(1, len(_NEW_INVOICE_COLUMNS) + 1))})
        ON CONFLICT (delivery_id) DO NOTHING
        RETURNING *
        """,
        *dataclasses.astuple(invoice),
    )
    await conn.execute("NOTIFY invoices_queued")
    return row(Invoice, record)


async def next_number(conn: Connection, company_id: uuid.UUID) -> int:
    """The next number of the seller's series of invoices and credit notes (gapless: it is
    taken in the transaction that issues the document, and the row stays locked until then)."""
    number: int = await conn.fetchval(
        """
        INSERT INTO document_series (company_id, last_number) VALUES ($1, 1)
        ON CONFLICT (company_id) DO UPDATE SET last_number = document_series.last_number + 1
        RETURNING last_number
        """,
        company_id,
    )
    return number


async def number_invoice(
    conn: Connection,
    invoice_id: uuid.UUID,
    *,
    number: int,
    issue_date: date,
    due_date: date,
    kid: str,
    seller: dict[str, Any],
    buyer: dict[str, Any],
    vat_percent: Decimal,
    net_ore: int,
    mva_ore: int,
    total_ore: int,
) -> Invoice:
    """The invoice issued: numbered, dated, with the parties as they are now; queued for
    Stripe."""
    await conn.execute("NOTIFY invoices_queued")
    return one(
        Invoice,
        await conn.fetchrow(
            """
            UPDATE invoices SET number = $2, issue_date = $3, due_date = $4, kid = $5,
                seller = $6, buyer = $7, vat_percent = $8, net_ore = $9, mva_ore = $10,
                total_ore = $11, status = 'queued', last_error = NULL, next_attempt_at = now()
            WHERE id = $1 RETURNING *
            """,
            invoice_id,
            number,
            issue_date,
            due_date,
            kid,
            seller,
            buyer,
            vat_percent,
            net_ore,
            mva_ore,
            total_ore,
        ),
    )


async def waiting_invoices_of(conn: Connection, company_id: uuid.UUID) -> list[Invoice]:
    """Invoices that wait for this company's details (as seller or buyer), locked."""
    return rows(
        Invoice,
        await conn.fetch(
            """
            SELECT * FROM invoices
            WHERE status = 'waiting' AND $1 IN (payee_company_id, payer_company_id)
            ORDER BY created_at, id FOR UPDATE
            """,
            company_id,
        ),
    )


async def wait_for_details(conn: Connection, invoice_id: uuid.UUID, why: str) -> None:
    await conn.execute(
        "UPDATE invoices SET status = 'waiting', last_error = $2 WHERE id = $1",
        invoice_id,
        why,
    )


async def invoice_of_delivery(conn: Connection, delivery_id: uuid.UUID) -> Invoice | None:
    return row(
        Invoice,
        await conn.fetchrow(
            "SELECT * FROM invoices WHERE delivery_id = $1 FOR UPDATE", delivery_id
        ),
    )


async def mark_credited(conn: Connection, invoice_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE invoices SET status = $2, credited_at = now() WHERE id = $1",
        invoice_id,
        status,
    )


async def insert_credit_note(
    conn: Connection,
    invoice: Invoice,
    number: int,
    issue_date: date,
    reason: str,
    status: str,
    detail: ReasonDetail | None = None,
    typed: str | None = None,
) -> CreditNote:
    await conn.execute("NOTIFY invoices_queued")
    return one(
        CreditNote,
        await conn.fetchrow(
            """
            INSERT INTO credit_notes (id, invoice_id, payee_company_id, number, issue_date,
                                      reason, net_ore, mva_ore, total_ore, status,
                                      reason_detail, reason_typed)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *
            """,
            uuid.uuid4(),
            invoice.id,
            invoice.payee_company_id,
            number,
            issue_date,
            reason,
            invoice.net_ore,
            invoice.mva_ore,
            invoice.total_ore,
            status,
            None if detail is None else detail.model_dump(mode="json"),
            typed,
        ),
    )


async def credit_note_of_invoice(db: Db, invoice_id: uuid.UUID) -> CreditNote | None:
    return row(
        CreditNote,
        await db.fetchrow("SELECT * FROM credit_notes WHERE invoice_id = $1", invoice_id),
    )


async def credit_note(db: Db, credit_note_id: uuid.UUID) -> CreditNote | None:
    return row(
        CreditNote, await db.fetchrow("SELECT * FROM credit_notes WHERE id = $1", credit_note_id)
    )


async def claim_due_credit_note(conn: Connection) -> CreditNote | None:
    """The next credit note to make at Stripe, locked for this transaction."""
    return row(
        CreditNote,
        await conn.fetchrow(
            """
            SELECT * FROM credit_notes WHERE status = 'queued' AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
            """
        ),
    )


async def mark_credit_note_issued(
    conn: Connection, credit_note_id: uuid.UUID, stripe_id: str | None
) -> None:
    await conn.execute(
        """
        UPDATE credit_notes SET status = 'issued', stripe_credit_note_id = $2,
            attempts = attempts + 1, last_error = NULL
        WHERE id = $1
        """,
        credit_note_id,
        stripe_id,
    )


async def retry_credit_note_later(
    conn: Connection, credit_note_id: uuid.UUID, attempts: int, error: str, delay_seconds: float
) -> None:
    await conn.execute(
        """
        UPDATE credit_notes SET attempts = $2, last_error = $3,
            next_attempt_at = now() + make_interval(secs => $4)
        WHERE id = $1
        """,
        credit_note_id,
        attempts,
        error,
        delay_seconds,
    )


# --- The invoice queue (billing.py's worker) --------------------------------------------


async def claim_due_invoice(conn: Connection) -> Invoice | None:
    """The next queued invoice that is due, locked for this transaction; others skip it."""
    return row(
        Invoice,
        await conn.fetchrow(
            """
            SELECT * FROM invoices
            WHERE status = 'queued' AND next_attempt_at <= now()
            ORDER BY next_attempt_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED
            """
        ),
    )


async def seconds_until_due(db: Db) -> float | None:
    """How long until the next queued invoice is due; None when none is queued."""
    value = await db.fetchval(
        """
        SELECT extract(epoch FROM min(at) - now()) FROM (
            SELECT next_attempt_at AS at FROM invoices WHERE status = 'queued'
            UNION ALL
            SELECT next_attempt_at FROM credit_notes WHERE status = 'queued') due
        """
    )
    return None if value is None else float(value)


async def mark_issued(conn: Connection, invoice_id: uuid.UUID, stripe_invoice_id: str) -> datetime:
    """Issued in Stripe: when."""
    issued_at: datetime = await conn.fetchval(
        """
        UPDATE invoices
        SET status = 'issued', stripe_invoice_id = $2, issued_at = now(),
            attempts = attempts + 1, last_error = NULL
        WHERE id = $1
        RETURNING issued_at
        """,
        invoice_id,
        stripe_invoice_id,
    )
    return issued_at


async def retry_later(
    conn: Connection, invoice_id: uuid.UUID, attempts: int, error: str, delay_seconds: float
) -> None:
    await conn.execute(
        """
        UPDATE invoices
        SET attempts = $2, last_error = $3,
            next_attempt_at = now() + make_interval(secs => $4)
        WHERE id = $1
        """,
        invoice_id,
        attempts,
        error,
        delay_seconds,
    )


# --- Stripe's objects for our companies ---------------------------------------------------


async def stripe_customer(db: Db, company_id: uuid.UUID) -> str | None:
    known = await db.fetchval(
        "SELECT stripe_customer_id FROM billing_accounts WHERE company_id = $1", company_id
    )
    return None if known is None else str(known)


async def keep_stripe_customer(db: Db, company_id: uuid.UUID, customer_id: str) -> str:
    """Remember the company's Stripe customer; the first one kept wins a race."""
    return str(
        await db.fetchval(
            """
            INSERT INTO billing_accounts (company_id, stripe_customer_id) VALUES ($1, $2)
            ON CONFLICT (company_id) DO UPDATE
                SET stripe_customer_id = coalesce(billing_accounts.stripe_customer_id,
                                                  excluded.stripe_customer_id)
            RETURNING stripe_customer_id
            """,
            company_id,
            customer_id,
        )
    )


async def stripe_account(db: Db, company_id: uuid.UUID) -> str | None:
    known = await db.fetchval(
        "SELECT stripe_account_id FROM billing_accounts WHERE company_id = $1", company_id
    )
    return None if known is None else str(known)


async def keep_stripe_account(db: Db, company_id: uuid.UUID, account_id: str) -> str:
    """Remember the company's connected account; the first one kept wins a race."""
    return str(
        await db.fetchval(
            """
            INSERT INTO billing_accounts (company_id, stripe_account_id) VALUES ($1, $2)
            ON CONFLICT (company_id) DO UPDATE
                SET stripe_account_id = coalesce(billing_accounts.stripe_account_id,
                                                 excluded.stripe_account_id)
            RETURNING stripe_account_id
            """,
            company_id,
            account_id,
        )
    )


async def stripe_tax_rate(db: Db, name: str) -> str | None:
    known = await db.fetchval(
        "SELECT stripe_tax_rate_id FROM stripe_tax_rates WHERE name = $1", name
    )
    return None if known is None else str(known)


async def keep_stripe_tax_rate(db: Db, name: str, tax_rate_id: str) -> str:
    """Remember a tax rate made in Stripe; the first one kept wins a race."""
    return str(
        await db.fetchval(
            """
            INSERT INTO stripe_tax_rates (name, stripe_tax_rate_id) VALUES ($1, $2)
            ON CONFLICT (name) DO UPDATE SET name = excluded.name
            RETURNING stripe_tax_rate_id
            """,
            name,
            tax_rate_id,
        )
    )


# --- Stripe's webhook events (webhooks.py) -----------------------------------------------


async def first_sight_of_stripe_event(conn: Connection, event_id: str, event_type: str) -> bool:
    """Record a Stripe event id; False when it was seen before (a replay)."""
    first = await conn.fetchval(
        "INSERT INTO stripe_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING "
        "RETURNING true",
        event_id,
        event_type,
    )
    return bool(first)


async def invoice_for_update(conn: Connection, invoice_id: uuid.UUID) -> Invoice | None:
    return row(
        Invoice, await conn.fetchrow("SELECT * FROM invoices WHERE id = $1 FOR UPDATE", invoice_id)
    )


async def invoices_by_stripe_id(conn: Connection, stripe_id: str) -> list[Invoice]:
    """At most two invoices with this Stripe id, locked (two mean: do not guess)."""
    return rows(
        Invoice,
        await conn.fetch(
            "SELECT * FROM invoices WHERE stripe_invoice_id = $1 LIMIT 2 FOR UPDATE", stripe_id
        ),
    )


async def set_stripe_state(
    conn: Connection,
    invoice_id: uuid.UUID,
    status: str,
    stripe_id: str | None,
    issued_at: datetime | None,
    paid_at: datetime | None,
) -> None:
    await conn.execute(
        """
        UPDATE invoices
        SET status = $2, stripe_invoice_id = coalesce(stripe_invoice_id, $3),
            issued_at = $4, paid_at = $5
        WHERE id = $1
        """,
        invoice_id,
        status,
        stripe_id,
        issued_at,
        paid_at,
    )


# --- What the parties see (invoices.py) --------------------------------------------------


async def invoices_of(
    db: Db, company_id: uuid.UUID | None, limit: int = 500, offset: int = 0
) -> list[Invoice]:
    """The company's invoices, paid or received (all, for None), newest first."""
    return rows(
        Invoice,
        await db.fetch(
            """
            SELECT * FROM invoices
            WHERE $1::uuid IS NULL OR $1 IN (payer_company_id, payee_company_id)
            ORDER BY created_at DESC, id LIMIT $2 OFFSET $3
            """,
            company_id,
            limit,
            offset,
        ),
    )


async def invoice_of(db: Db, invoice_id: uuid.UUID, company_id: uuid.UUID | None) -> Invoice | None:
    """One invoice, if the company pays or is paid by it (any, for None)."""
    return row(
        Invoice,
        await db.fetchrow(
            """
            SELECT * FROM invoices
            WHERE id = $1 AND ($2::uuid IS NULL OR $2 IN (payer_company_id, payee_company_id))
            """,
            invoice_id,
            company_id,
        ),
    )


# --- The impact ledger (impact.py) -------------------------------------------------------


async def proposal_unit(conn: Connection, proposal_id: uuid.UUID) -> str | None:
    """The unit the proposal (and so each side's listed price) was in."""
    unit = await conn.fetchval("SELECT unit FROM proposals WHERE id = $1", proposal_id)
    return None if unit is None else str(unit)


@dataclass(frozen=True)
class ImpactEntry:
    """What one confirmed delivery did for the park: a row of the impact ledger."""

    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    resource: str  # the EWC code, or ``class:<resource class>``
    delivered_on: date
    quantity: Decimal  # in ``unit``, the contract's
    unit: str
    tonnes_diverted: Decimal | None
    water_m3: Decimal | None
    energy_mwh: Decimal | None
    co2e_avoided_kg: Decimal | None
    transport_kg_co2e: Decimal | None
    amount_ore: int
    supplier_gain_ore: int | None
    receiver_gain_ore: int | None
    factors: list[dict[str, Any]]  # JSON: each factor's key, value, unit, source, year
    basis: str


IMPACT_COLUMNS = [f.name for f in dataclasses.fields(ImpactEntry)]


async def add_impact_entry(conn: Connection, entry: ImpactEntry) -> None:
    """One row per confirmed delivery; a second call for the same delivery adds nothing."""
    await conn.execute(
        f"""
        INSERT INTO impact_entries ({", ".join(IMPACT_COLUMNS)})
        VALUES ({", ".join(f"${i}" for i in range(1, len(IMPACT_COLUMNS) + 1))})
        ON CONFLICT (delivery_id) DO NOTHING
        """,
        *(getattr(entry, column) for column in IMPACT_COLUMNS),
    )


async def reverse_impact(conn: Connection, delivery_id: uuid.UUID) -> None:
    """A delivery disputed after confirmation leaves the figures; its row stays, marked."""
    await conn.execute(
        "UPDATE impact_entries SET reversed_at = now() WHERE delivery_id = $1", delivery_id
    )


async def stripe_queue(pool: Pool) -> dict[str, float]:
    """Work waiting for Stripe, for the metrics: invoices and credit notes queued."""
    found = await pool.fetchrow(
        """
        SELECT (SELECT count(*) FROM invoices WHERE status = 'queued') AS invoices,
               (SELECT count(*) FROM credit_notes WHERE status = 'queued') AS credit_notes
        """
    )
    assert found is not None
    return {
        "stripe_invoices": found["invoices"],
        "stripe_credit_notes": found["credit_notes"],
    }
