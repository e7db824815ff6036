"""All SQL of the contracts service: here what trades are made of (proposals, negotiations
and their terms, contracts, deliveries), and in `invoices` and `figures` invoicing and the
park's statistics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared.db import Connection
from shared.events import TradeProposed


async def record_proposal(conn: Connection, proposal: TradeProposed, proposed_at: datetime) -> bool:
    """Record a proposal, or a retracted one proposed again; False if nothing changed."""
    recorded = await conn.fetchval(
        """
        INSERT INTO proposals (id, offer_id, need_id, supplier_company_id, receiver_company_id,
                               ewc_code, resource_class, title, quantity, unit, reasons,
                               proposed_at, value, origin)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (id) DO UPDATE SET
            status = 'proposed', quantity = excluded.quantity, reasons = excluded.reasons,
            value = excluded.value
        WHERE proposals.status = 'retracted'
        RETURNING true
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
    return bool(recorded)


async def retract_proposal(conn: Connection, proposal_id: uuid.UUID) -> None:
    """The matcher withdrew its proposal; one already in negotiation is left to its parties."""
    await conn.execute(
        "UPDATE proposals SET status = 'retracted' WHERE id = $1 AND status = 'proposed'",
        proposal_id,
    )


async def proposals_of(conn: Connection, company_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT * FROM proposals WHERE supplier_company_id = $1 OR receiver_company_id = $1
        ORDER BY proposed_at DESC, id
        """,
        company_id,
    )
    return [dict(r) for r in rows]


async def proposal(conn: Connection, proposal_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM proposals WHERE id = $1", proposal_id)
    assert row is not None
    return dict(row)


async def proposal_of(
    conn: Connection, proposal_id: uuid.UUID, company_id: uuid.UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """
        SELECT * FROM proposals
        WHERE id = $1 AND (supplier_company_id = $2 OR receiver_company_id = $2)
        """,
        proposal_id,
        company_id,
    )
    return dict(row) if row else None


# Negotiations ---------------------------------------------------------------------------


async def open_negotiation(
    conn: Connection,
    proposal: dict[str, Any],
    price: int | None,
    expires_at: datetime,
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
        proposal["id"],
        proposal["supplier_company_id"],
        proposal["receiver_company_id"],
        expires_at,
    )
    if not reopened:
        return
    await close_open_terms(conn, proposal["id"], "superseded")
    await insert_terms(
        conn,
        proposal["id"],
        "exchange",
        quantity=proposal["quantity"],
        unit=proposal["unit"],
        price=price,
        delivery_from=None,
        delivery_until=None,
        transport="receiver",
        schedule="once",
    )
    await add_step(conn, proposal["id"], None, None, None, "proposed", None)


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
) -> dict[str, Any]:
    row = await conn.fetchrow(
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
    )
    assert row is not None
    return dict(row)


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
) -> dict[str, Any] | None:
    """The negotiation if the company is a party (any company when None)."""
    row = await conn.fetchrow(
        f"""
        {_NEGOTIATION}
        WHERE n.id = $1 AND ($2::uuid IS NULL OR $2 IN (n.supplier_company_id,
                                                         n.receiver_company_id))
        {"FOR UPDATE OF n" if lock else ""}
        """,
        negotiation_id,
        company_id,
    )
    return dict(row) if row else None


async def negotiations_of(conn: Connection, company_id: uuid.UUID | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""
        {_NEGOTIATION}
        WHERE $1::uuid IS NULL OR $1 IN (n.supplier_company_id, n.receiver_company_id)
        ORDER BY n.updated_at DESC, n.id LIMIT 500
        """,
        company_id,
    )
    return [dict(r) for r in rows]


async def terms_of(conn: Connection, negotiation_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM terms WHERE negotiation_id = $1 ORDER BY version", negotiation_id
    )
    return [dict(r) for r in rows]


async def steps_of(conn: Connection, negotiation_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM negotiation_steps WHERE negotiation_id = $1 ORDER BY id", negotiation_id
    )
    return [dict(r) for r in rows]


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


async def insert_invoice(conn: Connection, **columns: Any) -> None:
    """Queue a delivery's invoice once (the billing worker is woken at commit)."""
    await conn.execute(
        f"""
        INSERT INTO invoices ({", ".join(columns)})
        VALUES ({", ".join(f"${i}" for i in range(1, len(columns) + 1))})
        ON CONFLICT (delivery_id) DO NOTHING
        """,
        *columns.values(),
    )
    await conn.execute("NOTIFY invoices_queued")


async def set_terms_status(conn: Connection, terms_id: uuid.UUID, status: str) -> None:
    await conn.execute("UPDATE terms SET status = $2 WHERE id = $1", terms_id, status)


async def accept_terms(conn: Connection, terms_id: uuid.UUID, side: str) -> dict[str, Any]:
    column = "supplier_accepted_at" if side == "supplier" else "receiver_accepted_at"
    row = await conn.fetchrow(
        f"UPDATE terms SET {column} = now() WHERE id = $1 RETURNING *", terms_id
    )
    assert row is not None
    return dict(row)


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


async def expiring_negotiations(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""
        {_NEGOTIATION}
        WHERE n.id IN (
            SELECT id FROM negotiations WHERE status = 'open' AND expires_at < now()
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        """,
        limit,
    )
    return [dict(r) for r in rows]


# Contracts and deliveries -----------------------------------------------------------------


async def insert_contract(
    conn: Connection, negotiation: dict[str, Any], terms: dict[str, Any]
) -> dict[str, Any]:
    row = await conn.fetchrow(
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
        negotiation["id"],
        terms["id"],
        negotiation["offer_id"],
        negotiation["need_id"],
        negotiation["supplier_company_id"],
        negotiation["receiver_company_id"],
        negotiation["title"],
        negotiation["ewc_code"],
        negotiation["resource_class"],
        terms["quantity"],
        terms["unit"],
        terms["price_per_unit_ore"],
        terms["delivery_from"],
        terms["delivery_until"],
        terms["transport"],
        terms["schedule"],
        negotiation["value"],
    )
    assert row is not None
    return dict(row)


async def contract(
    conn: Connection, contract_id: uuid.UUID, company_id: uuid.UUID | None, lock: bool = False
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""
        SELECT * FROM contracts
        WHERE id = $1 AND ($2::uuid IS NULL OR $2 IN (supplier_company_id, receiver_company_id))
        {"FOR UPDATE" if lock else ""}
        """,
        contract_id,
        company_id,
    )
    return dict(row) if row else None


async def contracts_of(conn: Connection, company_id: uuid.UUID | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT * FROM contracts
        WHERE $1::uuid IS NULL OR $1 IN (supplier_company_id, receiver_company_id)
        ORDER BY agreed_at DESC, id LIMIT 500
        """,
        company_id,
    )
    return [dict(r) for r in rows]


async def end_contract(
    conn: Connection, contract_id: uuid.UUID, status: str, reason: str | None
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        UPDATE contracts SET status = $2, status_reason = $3, ended_at = now()
        WHERE id = $1 RETURNING *
        """,
        contract_id,
        status,
        reason,
    )
    assert row is not None
    return dict(row)


async def deliveries_of(conn: Connection, contract_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM deliveries WHERE contract_id = $1 ORDER BY delivered_on, recorded_at, id",
        contract_id,
    )
    return [dict(r) for r in rows]


async def insert_delivery(
    conn: Connection,
    contract_id: uuid.UUID,
    quantity: Decimal,
    unit: str,
    delivered_on: date,
    note: str | None,
    recorded_by: uuid.UUID,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        INSERT INTO deliveries (id, contract_id, quantity, unit, delivered_on, weighbridge_note,
                                recorded_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *
        """,
        uuid.uuid4(),
        contract_id,
        quantity,
        unit,
        delivered_on,
        note,
        recorded_by,
    )
    assert row is not None
    return dict(row)


async def delivery(
    conn: Connection, delivery_id: uuid.UUID, company_id: uuid.UUID | None, lock: bool = False
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""
        SELECT d.*, c.supplier_company_id, c.receiver_company_id, c.title, c.status
               AS contract_status
        FROM deliveries d JOIN contracts c ON c.id = d.contract_id
        WHERE d.id = $1
          AND ($2::uuid IS NULL OR $2 IN (c.supplier_company_id, c.receiver_company_id))
        {"FOR UPDATE OF d, c" if lock else ""}
        """,
        delivery_id,
        company_id,
    )
    return dict(row) if row else None


async def answer_delivery(
    conn: Connection,
    delivery_id: uuid.UUID,
    status: str,
    answered_by: uuid.UUID,
    reason: str | None,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        UPDATE deliveries SET status = $2, answered_by = $3, answered_at = now(),
            dispute_reason = $4
        WHERE id = $1 RETURNING *
        """,
        delivery_id,
        status,
        answered_by,
        reason,
    )
    assert row is not None
    return dict(row)
