"""The companies' SQL: what each shares with partners (kept from ``company.changed``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from shared.db import Connection
from shared.events import CompanyChanged


async def remember(conn: Connection, company: CompanyChanged) -> None:
    """Add the company, or bring it up to date (an older change never overwrites a newer)."""
    await conn.execute(
        """
        INSERT INTO companies (company_id, name, org_number, share_terms_with_partners,
                               changed_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (company_id) DO UPDATE SET
            name = excluded.name, org_number = excluded.org_number,
            share_terms_with_partners = excluded.share_terms_with_partners,
            changed_at = excluded.changed_at
        WHERE companies.changed_at <= excluded.changed_at
        """,
        company.company_id,
        company.name,
        company.org_number,
        company.share_terms_with_partners,
        company.changed_at,
    )


async def sharing(conn: Connection, company_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``company_ids`` that share their prices and terms with partners."""
    rows = await conn.fetch(
        "SELECT company_id FROM companies WHERE company_id = ANY($1::uuid[]) "
        "AND share_terms_with_partners",
        list(company_ids),
    )
    return {row["company_id"] for row in rows}
