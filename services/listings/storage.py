"""All SQL of the listings service."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.listings.throttling import Count
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
    updated_at: datetime
    share_terms_with_partners: bool
    vat_registered: bool = True
    bank_account: str | None = None
    language: str = "nb"
    status: str = "registered"
    status_reason: str | None = None
    status_changed_at: datetime | None = None
    status_changed_by: uuid.UUID | None = None
    verified_at: datetime | None = None


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
    language: str = "nb"
    last_signed_in_at: datetime | None = None


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
    ewc_code: str | None
    resource_class: str | None
    hazardous: bool
    title: str
    description: str
    quantity: Decimal
    remaining_quantity: Decimal
    unit: str
    frequency: str
    available_from: date
    available_until: date | None
    quality: list[dict[str, Any]]
    plot: str | None
    latitude: float | None
    longitude: float | None
    transport: str
    price_per_unit_ore: int | None
    internal_note: str
    status: str
    created_at: datetime
    published_at: datetime | None
    updated_at: datetime
    accepts: list[str]
    use: str | None
    transport_mode: str | None
    max_distance_km: float | None


_LISTING_COLUMNS = ", ".join(ListingRow.__dataclass_fields__)


def _listing(row: asyncpg.Record | None) -> ListingRow | None:
    return ListingRow(**{k: row[k] for k in ListingRow.__dataclass_fields__}) if row else None


_COMPANY_FIELDS = (
    "name",
    "nace_codes",
    "address",
    "plot",
    "latitude",
    "longitude",
    "contact",
    "share_terms_with_partners",
    "vat_registered",
    "bank_account",
    "language",
)


async def org_number_taken(conn: Connection, org_number: str) -> bool:
    """Whether a company with this organisation number is registered (``insert_company``
    still refuses a duplicate that comes in between)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM companies WHERE org_number = $1)", org_number
        )
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
    return _company(row)


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
    return _company(row) if row else None


async def list_companies(conn: Connection, limit: int, offset: int) -> list[CompanyRow]:
    rows = await conn.fetch(
        "SELECT * FROM companies ORDER BY name, id LIMIT $1 OFFSET $2", limit, offset
    )
    return [_company(r) for r in rows]


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


async def revoke_keys_made_by(conn: Connection, person_id: uuid.UUID) -> list[ApiKeyRow]:
    """Revoke the unrevoked API keys this person made, and the keys made with those, and
    so on; those keys."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE made (id) AS (
            SELECT id FROM api_keys WHERE created_by = $1
            UNION
            SELECT k.id FROM api_keys k JOIN made m ON k.created_by = m.id
        )
        UPDATE api_keys SET revoked_at = now()
        WHERE id IN (SELECT id FROM made) AND revoked_at IS NULL
        RETURNING *
        """,
        person_id,
    )
    return [ApiKeyRow(**dict(r)) for r in rows]


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
    language: str = "nb",
) -> PersonRow:
    try:
        row = await conn.fetchrow(
            """
            INSERT INTO people (id, company_id, email, name, role, password_hash,
                                invitation_hash, invitation_expires_at, language)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *
            """,
            person_id,
            company_id,
            email,
            name,
            role,
            password_hash,
            invitation_hash,
            invitation_expires_at,
            language,
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


async def update_person(
    conn: Connection, person_id: uuid.UUID, name: str | None, language: str | None
) -> PersonRow | None:
    row = await conn.fetchrow(
        """
        UPDATE people SET name = coalesce($2, name), language = coalesce($3, language)
        WHERE id = $1 AND disabled_at IS NULL RETURNING *
        """,
        person_id,
        name,
        language,
    )
    return PersonRow(**dict(row)) if row else None


async def colleagues(conn: Connection, company_id: uuid.UUID) -> list[PersonRow]:
    rows = await conn.fetch(
        "SELECT * FROM people WHERE company_id = $1 ORDER BY name, id", company_id
    )
    return [PersonRow(**dict(r)) for r in rows]


async def renew_invitation(
    conn: Connection,
    person_id: uuid.UUID,
    company_id: uuid.UUID,
    invitation_hash: str,
    expires_at: datetime,
) -> PersonRow | None:
    """A new link for an open invitation (the old one stops working); None unless the
    person is of the company and still invited."""
    row = await conn.fetchrow(
        """
        UPDATE people SET invitation_hash = $3, invitation_expires_at = $4
        WHERE id = $1 AND company_id = $2 AND password_hash IS NULL AND disabled_at IS NULL
        RETURNING *
        """,
        person_id,
        company_id,
        invitation_hash,
        expires_at,
    )
    return PersonRow(**dict(row)) if row else None


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


async def company_for_update(conn: Connection, company_id: uuid.UUID) -> CompanyRow | None:
    row = await conn.fetchrow("SELECT * FROM companies WHERE id = $1 FOR UPDATE", company_id)
    return _company(row) if row else None


async def set_company_status(
    conn: Connection,
    company_id: uuid.UUID,
    status: str,
    reason: str | None,
    changed_by: uuid.UUID,
) -> CompanyRow:
    """The company's new standing; verifying it stamps ``verified_at`` (kept through a
    suspension)."""
    row = await conn.fetchrow(
        """
        UPDATE companies SET status = $2, status_reason = $3, status_changed_at = now(),
            status_changed_by = $4, updated_at = now(),
            verified_at = CASE WHEN $2 = 'verified' THEN coalesce(verified_at, now())
                               ELSE verified_at END
        WHERE id = $1 RETURNING *
        """,
        company_id,
        status,
        reason,
        changed_by,
    )
    assert row is not None
    return _company(row)


async def company_status(conn: Connection, company_id: uuid.UUID) -> tuple[str, str | None]:
    """The company's standing and the reason given for it, locked against a change of it
    while the caller's transaction posts a listing."""
    row = await conn.fetchrow(
        "SELECT status, status_reason FROM companies WHERE id = $1 FOR SHARE", company_id
    )
    return (row["status"], row["status_reason"]) if row else ("registered", None)


async def shares_terms(conn: Connection, company_id: uuid.UUID) -> bool:
    """Whether the company shares its prices and terms with partners, for a listing event
    the caller's transaction writes: the row is locked against a change of it until then,
    so the event says what was true when it was committed."""
    shares = await conn.fetchval(
        "SELECT share_terms_with_partners FROM companies WHERE id = $1 FOR SHARE", company_id
    )
    return bool(shares)


async def open_listings_of(conn: Connection, company_id: uuid.UUID) -> list[ListingRow]:
    rows = await conn.fetch(
        f"SELECT {_LISTING_COLUMNS} FROM listings WHERE company_id = $1 AND status = 'open' "
        "ORDER BY created_at, id",
        company_id,
    )
    return [r for r in (_listing(row) for row in rows) if r]


async def mark_signed_in(conn: Connection, person_id: uuid.UUID) -> None:
    await conn.execute("UPDATE people SET last_signed_in_at = now() WHERE id = $1", person_id)


@dataclass(frozen=True)
class ParkPersonRow:
    """A person of the park with their company's name, for the park's people page."""

    person: PersonRow
    company_name: str | None


# The orders the park's people page sorts by: a column, then the id to break ties.
PEOPLE_ORDERS = {
    "name": "lower(p.name)",
    "email": "lower(p.email)",
    "company": "lower(coalesce(c.name, ''))",
    "role": "p.role",
    "last_sign_in": "p.last_signed_in_at",
}


async def park_people(
    conn: Connection, sort: str, descending: bool, limit: int, offset: int
) -> tuple[list[ParkPersonRow], int]:
    """One page of every person of the park, sorted; and how many there are in all."""
    order = PEOPLE_ORDERS[sort]  # a KeyError for an unknown sort: the caller checks it
    direction = "DESC" if descending else "ASC"
    nulls = "NULLS LAST"
    rows = await conn.fetch(
        f"""
        SELECT p.*, c.name AS company_name, count(*) OVER () AS total
        FROM people p LEFT JOIN companies c ON c.id = p.company_id
        ORDER BY {order} {direction} {nulls}, p.id {direction}
        LIMIT $1 OFFSET $2
        """,
        limit,
        offset,
    )
    if not rows and offset:
        total = await conn.fetchval("SELECT count(*) FROM people")
    else:
        total = rows[0]["total"] if rows else 0
    people = [
        ParkPersonRow(
            PersonRow(**{k: r[k] for k in PersonRow.__dataclass_fields__}), r["company_name"]
        )
        for r in rows
    ]
    return people, int(total)


async def unannounced_companies(conn: Connection, limit: int) -> list[CompanyRow]:
    """Companies whose details were never told to the other services, locked."""
    rows = await conn.fetch(
        "SELECT * FROM companies WHERE announced_at IS NULL ORDER BY created_at, id "
        "LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [_company(r) for r in rows]


async def mark_announced(conn: Connection, company_id: uuid.UUID) -> None:
    await conn.execute("UPDATE companies SET announced_at = now() WHERE id = $1", company_id)


def _company(row: asyncpg.Record) -> CompanyRow:
    return CompanyRow(**{k: row[k] for k in CompanyRow.__dataclass_fields__})


async def all_companies(conn: Connection) -> list[CompanyRow]:
    rows = await conn.fetch("SELECT * FROM companies ORDER BY name, id")
    return [_company(r) for r in rows]


async def companies_without_listings(conn: Connection) -> list[CompanyRow]:
    """Companies that have posted no listing in any state."""
    rows = await conn.fetch(
        """
        SELECT c.* FROM companies c
        WHERE NOT EXISTS (SELECT 1 FROM listings l WHERE l.company_id = c.id)
        ORDER BY c.name, c.id
        """
    )
    return [_company(r) for r in rows]


async def open_listings(conn: Connection) -> list[ListingRow]:
    rows = await conn.fetch(
        f"SELECT {_LISTING_COLUMNS} FROM listings WHERE status = 'open' ORDER BY created_at, id"
    )
    return [r for r in (_listing(row) for row in rows) if r]


@dataclass(frozen=True)
class PermitRow:
    company_id: uuid.UUID
    number: str
    authority: str
    valid_until: date
    waste_codes: list[str]
    status: str
    stated_at: datetime
    stated_by: uuid.UUID | None
    reviewed_at: datetime | None
    reviewed_by: uuid.UUID | None
    rejection_reason: str | None


async def state_permit(
    conn: Connection,
    company_id: uuid.UUID,
    number: str,
    authority: str,
    valid_until: date,
    waste_codes: list[str],
    stated_by: uuid.UUID,
) -> PermitRow:
    """The company's permit as it now states it, to be verified (again)."""
    row = await conn.fetchrow(
        """
        INSERT INTO permits (company_id, number, authority, valid_until, waste_codes, stated_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (company_id) DO UPDATE SET
            number = excluded.number, authority = excluded.authority,
            valid_until = excluded.valid_until, waste_codes = excluded.waste_codes,
            status = 'stated', stated_at = now(), stated_by = excluded.stated_by,
            reviewed_at = NULL, reviewed_by = NULL, rejection_reason = NULL
        RETURNING *
        """,
        company_id,
        number,
        authority,
        valid_until,
        waste_codes,
        stated_by,
    )
    assert row is not None
    return PermitRow(**dict(row))


async def permit_of(conn: Connection, company_id: uuid.UUID) -> PermitRow | None:
    row = await conn.fetchrow("SELECT * FROM permits WHERE company_id = $1", company_id)
    return PermitRow(**dict(row)) if row else None


async def review_permit(
    conn: Connection,
    company_id: uuid.UUID,
    number: str,
    status: str,
    reviewed_by: uuid.UUID,
    rejection_reason: str | None = None,
) -> PermitRow | None:
    """Verified or rejected, if the company's permit still has this number; else None."""
    row = await conn.fetchrow(
        """
        UPDATE permits SET status = $3, reviewed_at = now(), reviewed_by = $4,
                           rejection_reason = $5
        WHERE company_id = $1 AND number = $2
        RETURNING *
        """,
        company_id,
        number,
        status,
        reviewed_by,
        rejection_reason,
    )
    return PermitRow(**dict(row)) if row else None


async def permits_of(conn: Connection, companies: list[uuid.UUID]) -> dict[uuid.UUID, PermitRow]:
    rows = await conn.fetch("SELECT * FROM permits WHERE company_id = ANY($1::uuid[])", companies)
    return {r["company_id"]: PermitRow(**dict(r)) for r in rows}


async def permits_with_status(conn: Connection, status: str | None, limit: int) -> list[PermitRow]:
    rows = await conn.fetch(
        """
        SELECT * FROM permits WHERE $1::text IS NULL OR status = $1
        ORDER BY stated_at, company_id LIMIT $2
        """,
        status,
        limit,
    )
    return [PermitRow(**dict(r)) for r in rows]


async def get_company(
    conn: Connection, company_id: uuid.UUID, *, lock: bool = False
) -> CompanyRow | None:
    """The company; with ``lock``, its standing is kept from changing until the caller's
    transaction ends (as ``company_status`` does)."""
    row = await conn.fetchrow(
        "SELECT * FROM companies WHERE id = $1" + (" FOR SHARE" if lock else ""), company_id
    )
    return _company(row) if row else None


async def insert_listing(conn: Connection, fields: dict[str, Any]) -> ListingRow:
    """Insert a listing; ``fields`` are column values, including the derived ones."""
    columns = list(fields)
    row = await conn.fetchrow(
        f"INSERT INTO listings ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))}) "
        f"RETURNING {_LISTING_COLUMNS}",
        *fields.values(),
    )
    listing = _listing(row)
    assert listing is not None
    return listing


async def own_listing_for_update(
    conn: Connection, listing_id: uuid.UUID, company_id: uuid.UUID
) -> ListingRow | None:
    """The company's own listing, locked for the rest of the transaction."""
    return _listing(
        await conn.fetchrow(
            f"SELECT {_LISTING_COLUMNS} FROM listings WHERE id = $1 AND company_id = $2 FOR UPDATE",
            listing_id,
            company_id,
        )
    )


async def listing_for_update(conn: Connection, listing_id: uuid.UUID) -> ListingRow | None:
    return _listing(
        await conn.fetchrow(
            f"SELECT {_LISTING_COLUMNS} FROM listings WHERE id = $1 FOR UPDATE", listing_id
        )
    )


async def update_listing(
    conn: Connection, listing_id: uuid.UUID, fields: dict[str, Any]
) -> ListingRow:
    columns = list(fields)
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    row = await conn.fetchrow(
        f"UPDATE listings SET {assignments + ', ' if assignments else ''}updated_at = now() "
        f"WHERE id = $1 RETURNING {_LISTING_COLUMNS}",
        listing_id,
        *fields.values(),
    )
    listing = _listing(row)
    assert listing is not None
    return listing


async def insert_reservation(
    conn: Connection,
    contract_id: uuid.UUID,
    listing_id: uuid.UUID,
    quantity: Decimal,
    periods: dict[date, Decimal],
) -> bool:
    """Record a contract's reservation, period by period; False when this contract already
    reserved here."""
    first = await conn.fetchval(
        "INSERT INTO reservations (contract_id, listing_id, quantity) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        contract_id,
        listing_id,
        quantity,
    )
    if not first:
        return False
    await conn.executemany(
        "INSERT INTO reservation_periods (contract_id, listing_id, period, quantity)"
        " VALUES ($1, $2, $3, $4)",
        [(contract_id, listing_id, period, q) for period, q in periods.items()],
    )
    return True


async def reserved_by_period(conn: Connection, listing_id: uuid.UUID) -> dict[date, Decimal]:
    """What the listing's contracts hold in each period, less what cancelled ones gave back
    (in proportion to each period's share)."""
    rows = await conn.fetch(
        """
        SELECT p.period,
               sum(p.quantity * (r.quantity - r.released_quantity) / r.quantity) AS held
        FROM reservation_periods p
        JOIN reservations r USING (contract_id, listing_id)
        WHERE p.listing_id = $1
        GROUP BY p.period
        """,
        listing_id,
    )
    return {r["period"]: Decimal(r["held"]) for r in rows if r["held"] > 0}


async def release_reservation(
    conn: Connection, contract_id: uuid.UUID, listing_id: uuid.UUID, quantity: Decimal
) -> Decimal:
    """Give back up to ``quantity`` (the listing's unit) of a contract's reservation; how
    much was given back (nothing if the contract reserved nothing here)."""
    row = await conn.fetchrow(
        """
        SELECT quantity, released_quantity FROM reservations
        WHERE contract_id = $1 AND listing_id = $2 FOR UPDATE
        """,
        contract_id,
        listing_id,
    )
    if row is None:
        return Decimal(0)
    give = min(quantity, row["quantity"] - row["released_quantity"])
    if give <= 0:
        return Decimal(0)
    await conn.execute(
        """
        UPDATE reservations SET released_quantity = released_quantity + $3
        WHERE contract_id = $1 AND listing_id = $2
        """,
        contract_id,
        listing_id,
        give,
    )
    return Decimal(give)


async def get_visible_listing(
    conn: Connection, listing_id: uuid.UUID, viewer: uuid.UUID | None
) -> ListingRow | None:
    """A listing the viewer may see: its own in any state, others' only while open (and
    its company not suspended)."""
    return _listing(
        await conn.fetchrow(
            f"SELECT {_LISTING_COLUMNS} FROM listings "
            f"WHERE id = $1 AND (company_id = $2 OR (status = 'open' AND {_NOT_SUSPENDED}))",
            listing_id,
            viewer,
        )
    )


# Others do not see the listings of a company the park has suspended.
_NOT_SUSPENDED = "company_id NOT IN (SELECT id FROM companies WHERE status = 'suspended')"


@dataclass(frozen=True)
class ListingQuery:
    """Search filters; each None means no filter."""

    viewer: uuid.UUID | None
    mine: bool = False
    kind: str | None = None
    ewc_code: str | None = None
    chapter: str | None = None
    resource_class: str | None = None
    text: str | None = None
    company_id: uuid.UUID | None = None
    status: str | None = None
    dimension: str | None = None
    min_base: Decimal | None = None
    max_base: Decimal | None = None
    near: tuple[float, float] | None = None
    within_km: float | None = None
    sort: str = "newest"
    after: tuple[Any, uuid.UUID] | None = None
    limit: int = 50


_SORTS = {
    # sort name: (key column, direction)
    "newest": ("created_at", "DESC"),
    "oldest": ("created_at", "ASC"),
    "quantity_asc": ("quantity_base", "ASC"),
    "quantity_desc": ("quantity_base", "DESC"),
}
SORTS = tuple(_SORTS)

# Great-circle distance in km between the listing and the point ($lat, $lon).
_DISTANCE = (
    "(2 * 6371 * asin(sqrt(power(sin(radians(latitude - {lat}) / 2), 2) + cos(radians({lat}))"
    " * cos(radians(latitude)) * power(sin(radians(longitude - {lon}) / 2), 2))))"
)


async def search_listings(conn: Connection, query: ListingQuery) -> list[ListingRow]:
    """One page of listings the viewer may see, in ``query.sort`` order after the cursor.

    The park's open listings and the viewer's own other listings are searched as two
    branches of a UNION ALL, so that each can walk its index in sort order.
    """
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    viewer = arg(query.viewer)
    for column, value in (
        ("kind", query.kind),
        ("ewc_code", query.ewc_code),
        ("resource_class", query.resource_class),
        ("company_id", query.company_id),
        ("status", query.status),
        ("dimension", query.dimension),
    ):
        if value is not None:
            where.append(f"{column} = {arg(value)}")
    if query.chapter is not None:
        where.append(f"ewc_code LIKE {arg(query.chapter + '%')}")
    if query.text:
        where.append(f"search @@ plainto_tsquery('simple', {arg(query.text)})")
    if query.min_base is not None:
        where.append(f"quantity_base >= {arg(query.min_base)}")
    if query.max_base is not None:
        where.append(f"quantity_base <= {arg(query.max_base)}")
    if query.near is not None and query.within_km is not None:
        lat, lon = query.near
        # A bounding box the index can use, then the exact distance.
        dlat = query.within_km / 111.0
        dlon = query.within_km / max(1e-6, 111.0 * math.cos(math.radians(lat)))
        where.append(f"latitude BETWEEN {arg(lat - dlat)} AND {arg(lat + dlat)}")
        where.append(f"longitude BETWEEN {arg(lon - dlon)} AND {arg(lon + dlon)}")
        distance = _DISTANCE.format(lat=arg(lat), lon=arg(lon))
        where.append(f"{distance} <= {arg(query.within_km)}")
    key, direction = _SORTS[query.sort]
    if query.after is not None:
        comparison = "<" if direction == "DESC" else ">"
        where.append(f"({key}, id) {comparison} ({arg(query.after[0])}, {arg(query.after[1])})")
    limit = arg(query.limit)
    order = f"ORDER BY {key} {direction}, id {direction} LIMIT {limit}"
    branches = (
        [f"company_id = {viewer}"]
        if query.mine
        else [
            f"status = 'open' AND (company_id = {viewer} OR {_NOT_SUSPENDED})",
            f"company_id = {viewer} AND status <> 'open'",
        ]
    )
    selected = f"SELECT {_LISTING_COLUMNS}, quantity_base FROM listings"
    parts = [f"{selected} WHERE {' AND '.join([branch, *where])} {order}" for branch in branches]
    sql = parts[0] if len(parts) == 1 else " UNION ALL ".join(f"({p})" for p in parts) + f" {order}"
    return [r for r in (_listing(row) for row in await conn.fetch(sql, *args)) if r]


async def listings_ending(conn: Connection, within_days: int, limit: int = 100) -> list[ListingRow]:
    """Open listings whose window ends within ``within_days`` and that were not yet
    announced for that end date; locked, so two replicas never announce one twice. A
    suspended company's listings are off the exchange and it cannot change them: they
    wait until it is reinstated."""
    rows = await conn.fetch(
        f"""
        SELECT {_LISTING_COLUMNS} FROM listings
        WHERE status = 'open' AND available_until IS NOT NULL AND {_NOT_SUSPENDED}
          AND available_until BETWEEN current_date AND current_date + $1::int
          AND expiry_warned_for IS DISTINCT FROM available_until
        ORDER BY available_until, id LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        within_days,
        limit,
    )
    return [r for r in (_listing(row) for row in rows) if r]


async def mark_expiry_warned(conn: Connection, listing_id: uuid.UUID, until: date) -> None:
    await conn.execute(
        "UPDATE listings SET expiry_warned_for = $2 WHERE id = $1", listing_id, until
    )


async def database_today(conn: Connection) -> date:
    """Today by the database's clock, the one ``listings_ending`` counts days with."""
    today: date = await conn.fetchval("SELECT current_date")
    return today


@dataclass(frozen=True)
class PartnerCredentialRow:
    id: uuid.UUID
    label: str
    username: str
    created_by: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None


async def insert_partner_credential(
    conn: Connection,
    credential_id: uuid.UUID,
    label: str,
    username: str,
    created_by: uuid.UUID | None,
) -> PartnerCredentialRow:
    row = await conn.fetchrow(
        "INSERT INTO partner_credentials (id, label, username, created_by) "
        "VALUES ($1, $2, $3, $4) RETURNING *",
        credential_id,
        label,
        username,
        created_by,
    )
    assert row is not None
    return PartnerCredentialRow(**dict(row))


async def list_partner_credentials(conn: Connection) -> list[PartnerCredentialRow]:
    rows = await conn.fetch("SELECT * FROM partner_credentials ORDER BY created_at, id")
    return [PartnerCredentialRow(**dict(r)) for r in rows]


async def revoke_partner_credential(
    conn: Connection, credential_id: uuid.UUID
) -> PartnerCredentialRow | None:
    """Mark it revoked (once); the row, or None when there is no such credential."""
    row = await conn.fetchrow(
        "UPDATE partner_credentials SET revoked_at = coalesce(revoked_at, now()) "
        "WHERE id = $1 RETURNING *",
        credential_id,
    )
    return PartnerCredentialRow(**dict(row)) if row else None


# --- Sign-in throttling --------------------------------------------------------------------


async def lock_throttle_counts(
    conn: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], Count | None]:
    """The counts of these ``(scope, key)`` pairs, locked for the transaction (rows are
    made for missing ones, so that concurrent attempts queue up on them)."""
    await conn.executemany(
        "INSERT INTO sign_in_throttle (scope, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        keys,
    )
    rows = await conn.fetch(
        """
        SELECT scope, key, failures, last_at FROM sign_in_throttle
        WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
        ORDER BY scope, key
        FOR UPDATE
        """,
        [scope for scope, _ in keys],
        [key for _, key in keys],
    )
    found = {(r["scope"], r["key"]): Count(r["failures"], r["last_at"]) for r in rows}
    return {pair: found.get(pair) for pair in keys}


async def set_throttle_count(
    conn: Connection, scope: str, key: str, failures: int, at: datetime
) -> None:
    await conn.execute(
        "UPDATE sign_in_throttle SET failures = $3, last_at = $4 WHERE scope = $1 AND key = $2",
        scope,
        key,
        failures,
        at,
    )


async def take_back_attempt(conn: Connection, address: str, account: str) -> None:
    """A sign-in succeeded: the account's count is cleared and the address's attempt is
    taken back."""
    await conn.execute("DELETE FROM sign_in_throttle WHERE scope = 'account' AND key = $1", account)
    await conn.execute(
        """
        UPDATE sign_in_throttle SET failures = greatest(failures - 1, 0)
        WHERE scope = 'address' AND key = $1
        """,
        address,
    )


async def forget_old_throttle_counts(conn: Connection, older_than_seconds: float) -> None:
    await conn.execute(
        "DELETE FROM sign_in_throttle WHERE last_at < now() - make_interval(secs => $1)",
        older_than_seconds,
    )


# --- The audit log -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    action: str
    actor_id: uuid.UUID | None
    actor_kind: str | None
    company_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    client: str | None
    details: dict[str, Any]


async def record_audit(
    conn: Connection,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    actor_kind: str | None,
    company_id: uuid.UUID | None,
    subject_id: uuid.UUID | None,
    client: str | None,
    details: dict[str, Any],
) -> None:
    await conn.execute(
        """
        INSERT INTO audit_log (action, actor_id, actor_kind, company_id, subject_id, client,
                               details)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        action,
        actor_id,
        actor_kind,
        company_id,
        subject_id,
        client,
        details,
    )


async def audit_page(
    conn: Connection,
    *,
    company_id: uuid.UUID | None,
    action: str | None,
    actor_id: uuid.UUID | None,
    before: int | None,
    limit: int,
) -> list[AuditRow]:
    """Newest first; ``before`` (an entry's id) continues after that entry."""
    rows = await conn.fetch(
        """
        SELECT * FROM audit_log
        WHERE ($1::uuid IS NULL OR company_id = $1)
          AND ($2::text IS NULL OR action = $2 OR action LIKE $2 || '.%')
          AND ($3::uuid IS NULL OR actor_id = $3)
          AND ($4::bigint IS NULL OR id < $4)
        ORDER BY id DESC
        LIMIT $5
        """,
        company_id,
        action,
        actor_id,
        before,
        limit,
    )
    return [AuditRow(**dict(r)) for r in rows]
