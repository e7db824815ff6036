"""The companies' SQL: what each shares with partners (kept from ``company.changed``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from shared.db import Connection
from shared.events import CompanyChanged, PartnerSharing


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


async def sharing(
    conn: Connection, company_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PartnerSharing]:
    """Whether each of ``company_ids`` known here shares its prices and terms with partners,
    and the change that said so."""
    rows = await conn.fetch(
        "SELECT company_id, share_terms_with_partners, changed_at FROM companies "
        "WHERE company_id = ANY($1::uuid[])",
        list(company_ids),
    )
    return {
        row["company_id"]: PartnerSharing(
            share_terms_with_partners=row["share_terms_with_partners"],
            changed_at=row["changed_at"],
        )
        for row in rows
    }
