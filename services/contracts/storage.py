"""All SQL of the contracts service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.db import Connection
from shared.events import TradeProposed


async def record_proposal(conn: Connection, proposal: TradeProposed, proposed_at: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO proposals (id, offer_id, need_id, supplier_company_id, receiver_company_id,
                               ewc_code, resource_class, title, quantity, unit, reasons,
                               proposed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (id) DO UPDATE SET
            status = 'proposed', quantity = excluded.quantity, reasons = excluded.reasons
        WHERE proposals.status = 'retracted'
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
    )


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
