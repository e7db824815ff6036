"""All SQL of the listings service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from shared.db import Connection


class DuplicateOrganisation(Exception):
    """A company with this organisation number is already registered."""


@dataclass(frozen=True)
class CompanyRow:
    id: uuid.UUID
    name: str
    org_number: str
    created_at: datetime


@dataclass(frozen=True)
class ListingRow:
    id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    ewc_code: str
    hazardous: bool
    title: str
    description: str
    quantity: Decimal
    unit: str
    status: str
    created_at: datetime
    published_at: datetime | None


async def insert_company(
    conn: Connection, company_id: uuid.UUID, name: str, org_number: str
) -> CompanyRow:
    try:
        row = await conn.fetchrow(
            "INSERT INTO companies (id, name, org_number) VALUES ($1, $2, $3) RETURNING *",
            company_id,
            name,
            org_number,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateOrganisation(org_number) from exc
    assert row is not None
    return CompanyRow(**dict(row))


async def insert_api_key(
    conn: Connection, key_id: uuid.UUID, company_id: uuid.UUID, label: str
) -> None:
    await conn.execute(
        "INSERT INTO api_keys (id, company_id, label) VALUES ($1, $2, $3)",
        key_id,
        company_id,
        label,
    )


async def get_company(conn: Connection, company_id: uuid.UUID) -> CompanyRow | None:
    row = await conn.fetchrow("SELECT * FROM companies WHERE id = $1", company_id)
    return CompanyRow(**dict(row)) if row else None


async def insert_listing(
    conn: Connection,
    *,
    listing_id: uuid.UUID,
    company_id: uuid.UUID,
    kind: str,
    ewc_code: str,
    hazardous: bool,
    title: str,
    description: str,
    quantity: Decimal,
    unit: str,
) -> ListingRow:
    row = await conn.fetchrow(
        """
        INSERT INTO listings (id, company_id, kind, ewc_code, hazardous, title, description,
                              quantity, unit, status, published_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', now())
        RETURNING *
        """,
        listing_id,
        company_id,
        kind,
        ewc_code,
        hazardous,
        title,
        description,
        quantity,
        unit,
    )
    assert row is not None
    return ListingRow(**dict(row))


async def get_visible_listing(
    conn: Connection, listing_id: uuid.UUID, viewer: uuid.UUID
) -> ListingRow | None:
    """A listing the viewer may see: its own in any state, others' only while open."""
    row = await conn.fetchrow(
        "SELECT * FROM listings WHERE id = $1 AND (company_id = $2 OR status = 'open')",
        listing_id,
        viewer,
    )
    return ListingRow(**dict(row)) if row else None


async def list_visible_listings(
    conn: Connection,
    viewer: uuid.UUID,
    *,
    kind: str | None,
    ewc_code: str | None,
    mine: bool,
    limit: int,
) -> list[ListingRow]:
    rows = await conn.fetch(
        """
        SELECT * FROM listings
        WHERE (company_id = $1 OR (status = 'open' AND NOT $4))
          AND ($4 IS FALSE OR company_id = $1)
          AND ($2::text IS NULL OR kind = $2)
          AND ($3::text IS NULL OR ewc_code = $3)
        ORDER BY created_at DESC, id
        LIMIT $5
        """,
        viewer,
        kind,
        ewc_code,
        mine,
        limit,
    )
    return [ListingRow(**dict(r)) for r in rows]
