"""All SQL of the listings service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

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
    nace_codes: list[str]
    address: dict[str, Any] | None
    plot: str | None
    latitude: float | None
    longitude: float | None
    contact: dict[str, Any] | None
    permits: list[str]
    updated_at: datetime


class DuplicateEmail(Exception):
    """Someone already signs in with this e-mail address."""


@dataclass(frozen=True)
class PersonRow:
    id: uuid.UUID
    company_id: uuid.UUID | None
    email: str
    name: str
    role: str
    password_hash: str | None
    invitation_hash: str | None
    invitation_expires_at: datetime | None
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class ApiKeyRow:
    id: uuid.UUID
    company_id: uuid.UUID | None
    label: str
    role: str
    created_by: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None


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


_COMPANY_FIELDS = (
    "name",
    "nace_codes",
    "address",
    "plot",
    "latitude",
    "longitude",
    "contact",
    "permits",
)


async def insert_company(
    conn: Connection, company_id: uuid.UUID, org_number: str, fields: dict[str, Any]
) -> CompanyRow:
    columns = [c for c in _COMPANY_FIELDS if c in fields]
    try:
        row = await conn.fetchrow(
            f"INSERT INTO companies (id, org_number, {', '.join(columns)}) "
            f"VALUES ($1, $2, {', '.join(f'${i + 3}' for i in range(len(columns)))}) RETURNING *",
            company_id,
            org_number,
            *(fields[c] for c in columns),
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateOrganisation(org_number) from exc
    assert row is not None
    return CompanyRow(**dict(row))


async def update_company(
    conn: Connection, company_id: uuid.UUID, fields: dict[str, Any]
) -> CompanyRow | None:
    columns = [c for c in _COMPANY_FIELDS if c in fields]
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    row = await conn.fetchrow(
        f"UPDATE companies SET {assignments + ', ' if assignments else ''}updated_at = now() "
        "WHERE id = $1 RETURNING *",
        company_id,
        *(fields[c] for c in columns),
    )
    return CompanyRow(**dict(row)) if row else None


async def list_companies(conn: Connection, limit: int, offset: int) -> list[CompanyRow]:
    rows = await conn.fetch(
        "SELECT * FROM companies ORDER BY name, id LIMIT $1 OFFSET $2", limit, offset
    )
    return [CompanyRow(**dict(r)) for r in rows]


async def insert_api_key(
    conn: Connection,
    key_id: uuid.UUID,
    company_id: uuid.UUID | None,
    label: str,
    role: str = "admin",
    created_by: uuid.UUID | None = None,
) -> ApiKeyRow:
    row = await conn.fetchrow(
        "INSERT INTO api_keys (id, company_id, label, role, created_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *",
        key_id,
        company_id,
        label,
        role,
        created_by,
    )
    assert row is not None
    return ApiKeyRow(**dict(row))


async def list_api_keys(conn: Connection, company_id: uuid.UUID | None) -> list[ApiKeyRow]:
    """A company's keys, or (with None) the partner keys."""
    rows = await conn.fetch(
        "SELECT * FROM api_keys WHERE company_id IS NOT DISTINCT FROM $1 ORDER BY created_at, id",
        company_id,
    )
    return [ApiKeyRow(**dict(r)) for r in rows]


async def revoke_api_key(
    conn: Connection, key_id: uuid.UUID, company_id: uuid.UUID | None
) -> ApiKeyRow | None:
    """Revoke a key of this company (None: a partner key); None if there is no such key."""
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
        " WHERE id = $1 AND company_id IS NOT DISTINCT FROM $2 RETURNING *",
        key_id,
        company_id,
    )
    return ApiKeyRow(**dict(row)) if row else None


async def insert_person(
    conn: Connection,
    *,
    person_id: uuid.UUID,
    company_id: uuid.UUID | None,
    email: str,
    name: str,
    role: str,
    password_hash: str | None = None,
    invitation_hash: str | None = None,
    invitation_expires_at: datetime | None = None,
) -> PersonRow:
    try:
        row = await conn.fetchrow(
            """
            INSERT INTO people (id, company_id, email, name, role, password_hash,
                                invitation_hash, invitation_expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *
            """,
            person_id,
            company_id,
            email,
            name,
            role,
            password_hash,
            invitation_hash,
            invitation_expires_at,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateEmail(email) from exc
    assert row is not None
    return PersonRow(**dict(row))


async def person_by_email(conn: Connection, email: str) -> PersonRow | None:
    row = await conn.fetchrow("SELECT * FROM people WHERE lower(email) = lower($1)", email)
    return PersonRow(**dict(row)) if row else None


async def person_by_invitation(conn: Connection, invitation_hash: str) -> PersonRow | None:
    row = await conn.fetchrow(
        "SELECT * FROM people WHERE invitation_hash = $1 FOR UPDATE", invitation_hash
    )
    return PersonRow(**dict(row)) if row else None


async def set_password(conn: Connection, person_id: uuid.UUID, password_hash: str) -> PersonRow:
    row = await conn.fetchrow(
        """
        UPDATE people SET password_hash = $2, invitation_hash = NULL, invitation_expires_at = NULL
        WHERE id = $1 RETURNING *
        """,
        person_id,
        password_hash,
    )
    assert row is not None
    return PersonRow(**dict(row))


async def colleagues(conn: Connection, company_id: uuid.UUID) -> list[PersonRow]:
    rows = await conn.fetch(
        "SELECT * FROM people WHERE company_id = $1 ORDER BY name, id", company_id
    )
    return [PersonRow(**dict(r)) for r in rows]


async def disable_person(
    conn: Connection, person_id: uuid.UUID, company_id: uuid.UUID
) -> PersonRow | None:
    row = await conn.fetchrow(
        """
        UPDATE people SET disabled_at = coalesce(disabled_at, now()), invitation_hash = NULL
        WHERE id = $1 AND company_id = $2 RETURNING *
        """,
        person_id,
        company_id,
    )
    return PersonRow(**dict(row)) if row else None


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
    conn: Connection, listing_id: uuid.UUID, viewer: uuid.UUID | None
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
    viewer: uuid.UUID | None,
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
