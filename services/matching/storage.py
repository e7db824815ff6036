"""All SQL of the matching service."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from services.matching.domain import OpenListing, Proposal
from shared.db import Connection

_COLUMNS = """listing_id, company_id, kind, ewc_code, resource_class, title, quantity, unit,
    available_from, available_until, quality, latitude, longitude, price_per_unit_ore,
    accepts, use, transport_mode, max_distance_km"""
_SELECT_OPEN = f"SELECT {_COLUMNS} FROM open_listings"


def _open_listing(row: Any) -> OpenListing:
    fields = {name: value for name, value in dict(row).items() if name != "indexed_at"}
    return OpenListing(
        **{**fields, "quality": tuple(row["quality"]), "accepts": tuple(row["accepts"])}
    )


async def lock_resources(conn: Connection, resources: list[str]) -> None:
    """Serialise matching per resource for this transaction, taking the locks in order.

    Without them, an offer and a need arriving at the same moment on two partitions (or
    two instances) would each look for the other before either committed, and the
    trade would never be proposed.
    """
    for resource in resources:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('matching.resource.' || $1))", resource
        )


async def index_listing(conn: Connection, listing: OpenListing, keys_version: str) -> None:
    await conn.execute(
        """
        INSERT INTO open_listings (listing_id, company_id, kind, ewc_code, resource_class,
                                   resource, title, quantity, unit, available_from,
                                   available_until, quality, latitude, longitude,
                                   price_per_unit_ore, accepts, use, transport_mode,
                                   max_distance_km, keys, keys_version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20, $21)
        ON CONFLICT (listing_id) DO UPDATE SET
            title = excluded.title, quantity = excluded.quantity, unit = excluded.unit,
            available_from = excluded.available_from,
            available_until = excluded.available_until, quality = excluded.quality,
            latitude = excluded.latitude, longitude = excluded.longitude,
            price_per_unit_ore = excluded.price_per_unit_ore, accepts = excluded.accepts,
            use = excluded.use, transport_mode = excluded.transport_mode,
            max_distance_km = excluded.max_distance_km, keys = excluded.keys,
            keys_version = excluded.keys_version
        """,
        listing.listing_id,
        listing.company_id,
        listing.kind,
        listing.ewc_code,
        listing.resource_class,
        listing.resource,
        listing.title,
        listing.quantity,
        listing.unit,
        listing.available_from,
        listing.available_until,
        list(listing.quality),
        listing.latitude,
        listing.longitude,
        listing.price_per_unit_ore,
        list(listing.accepts),
        listing.use,
        listing.transport_mode,
        listing.max_distance_km,
        sorted(listing.keys),
        keys_version,
    )
    await _key_rows(conn, listing, sorted(listing.keys))


async def _key_rows(conn: Connection, listing: OpenListing, keys: list[str]) -> None:
    """The listing's rows of the key index: one per key, with its kind, company and site."""
    await conn.execute("DELETE FROM open_listing_keys WHERE listing_id = $1", listing.listing_id)
    await conn.execute(
        """
        INSERT INTO open_listing_keys (listing_id, key, kind, company_id, latitude, longitude)
        SELECT $1, key, $3, $4, $5, $6 FROM unnest($2::text[]) AS key
        """,
        listing.listing_id,
        keys,
        listing.kind,
        listing.company_id,
        listing.latitude,
        listing.longitude,
    )


async def stale_keys(conn: Connection, keys_version: str, limit: int) -> list[OpenListing]:
    """Open listings whose index keys come from another knowledge base; locked, so that
    several matchers share the work."""
    rows = await conn.fetch(
        f"""{_SELECT_OPEN} WHERE keys_version <> $1 ORDER BY listing_id LIMIT $2
        FOR UPDATE SKIP LOCKED""",
        keys_version,
        limit,
    )
    return [_open_listing(r) for r in rows]


async def set_keys(
    conn: Connection, listing: OpenListing, keys: list[str], keys_version: str
) -> None:
    await conn.execute(
        "UPDATE open_listings SET keys = $2, keys_version = $3 WHERE listing_id = $1",
        listing.listing_id,
        keys,
        keys_version,
    )
    await _key_rows(conn, listing, keys)


async def unindex_listing(conn: Connection, listing_id: uuid.UUID) -> None:
    """A withdrawn or fully reserved listing is no longer matched."""
    await conn.execute("DELETE FROM open_listings WHERE listing_id = $1", listing_id)


def bounding_box(latitude: float, longitude: float, km: float) -> tuple[float, float, float, float]:
    """South, north, west, east bounds (degrees) of every point within ``km`` of a site."""
    lat_span = km / 111.19  # km per degree of latitude on the 6,371 km sphere
    south, north = latitude - lat_span, latitude + lat_span
    if north >= 90 or south <= -90:
        return max(south, -90.0), min(north, 90.0), -180.0, 180.0
    widest = max(abs(south), abs(north))
    lon_span = km / (111.19 * math.cos(math.radians(widest)))
    west, east = longitude - lon_span, longitude + lon_span
    if west < -180 or east > 180:  # the box crosses the antimeridian: take every longitude
        return south, north, -180.0, 180.0
    return south, north, west, east


async def counterparts(
    conn: Connection, listing: OpenListing, keys: list[str], within_km: float
) -> list[OpenListing]:
    """Open listings of the other kind that share an index key with ``keys``, from other
    companies, and (when the listing has a site) without a site or inside the box around it
    that holds every point within ``within_km``; the exact rules are the matcher's."""
    others = "key = ANY($1::text[]) AND kind <> $2 AND company_id <> $3"
    if listing.latitude is None or listing.longitude is None:
        rows = await conn.fetch(
            f"""{_SELECT_OPEN} WHERE listing_id IN (
                SELECT listing_id FROM open_listing_keys WHERE {others})
            ORDER BY indexed_at, listing_id""",
            keys,
            listing.kind,
            listing.company_id,
        )
        return [_open_listing(r) for r in rows]
    south, north, west, east = bounding_box(listing.latitude, listing.longitude, within_km)
    rows = await conn.fetch(
        f"""
        {_SELECT_OPEN} WHERE listing_id IN (
            SELECT listing_id FROM open_listing_keys WHERE {others}
              AND latitude BETWEEN $4 AND $5 AND longitude BETWEEN $6 AND $7
            UNION ALL
            SELECT listing_id FROM open_listing_keys WHERE {others}
              AND (latitude IS NULL OR longitude IS NULL)
        )
        ORDER BY indexed_at, listing_id
        """,
        keys,
        listing.kind,
        listing.company_id,
        south,
        north,
        west,
        east,
    )
    return [_open_listing(r) for r in rows]


async def insert_proposal(conn: Connection, proposal: Proposal) -> bool:
    """Record a proposal; False when this pair is already proposed. A retracted pair that
    holds again is proposed again, under the same id."""
    inserted = await conn.fetchval(
        """
        INSERT INTO proposals (id, offer_id, need_id, supplier_company_id, receiver_company_id,
                               ewc_code, resource_class, quantity, unit, reasons, value,
                               origin, plan_id, reason_details)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (id) DO UPDATE SET
            status = 'proposed', quantity = excluded.quantity, reasons = excluded.reasons,
            value = excluded.value, reason_details = excluded.reason_details,
            retracted_at = NULL, retract_reason = NULL
        WHERE proposals.status = 'retracted'
        RETURNING true
        """,
        proposal.proposal_id,
        proposal.offer.listing_id,
        proposal.need.listing_id,
        proposal.offer.company_id,
        proposal.need.company_id,
        proposal.offer.ewc_code,
        proposal.offer.resource_class,
        proposal.quantity,
        proposal.unit,
        list(proposal.reasons),
        proposal.value.model_dump(mode="json"),
        proposal.origin,
        proposal.plan_id,
        [d.model_dump(mode="json") for d in proposal.details],
    )
    return bool(inserted)


async def proposals_of(conn: Connection, company_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT * FROM proposals WHERE supplier_company_id = $1 OR receiver_company_id = $1
        ORDER BY created_at DESC, id
        """,
        company_id,
    )
    return [dict(r) for r in rows]


async def open_proposals_of(conn: Connection, listing_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT p.*, o.title AS offer_title FROM proposals p
        LEFT JOIN open_listings o ON o.listing_id = p.offer_id
        WHERE (p.offer_id = $1 OR p.need_id = $1) AND p.status = 'proposed'
        ORDER BY p.created_at, p.id
        """,
        listing_id,
    )
    return [dict(r) for r in rows]


async def retract(conn: Connection, proposal_id: uuid.UUID, reason: str) -> datetime | None:
    """Mark an open proposal retracted; its time, or None if it was not open."""
    retracted_at: datetime | None = await conn.fetchval(
        """
        UPDATE proposals SET status = 'retracted', retracted_at = now(), retract_reason = $2
        WHERE id = $1 AND status = 'proposed' RETURNING retracted_at
        """,
        proposal_id,
        reason,
    )
    return retracted_at


async def open_listing(conn: Connection, listing_id: uuid.UUID) -> OpenListing | None:
    row = await conn.fetchrow(f"{_SELECT_OPEN} WHERE listing_id = $1", listing_id)
    return _open_listing(row) if row else None


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


async def expire_proposals(
    conn: Connection, older_than_hours: float, limit: int = 100
) -> list[dict[str, Any]]:
    """Mark open proposals older than the limit expired; several instances share the work."""
    rows = await conn.fetch(
        """
        UPDATE proposals p SET status = 'expired', retracted_at = now(), retract_reason = $3
        FROM (
            SELECT id FROM proposals
            WHERE status = 'proposed' AND created_at < now() - make_interval(secs => $1)
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ) old
        WHERE p.id = old.id
        RETURNING p.*,
            (SELECT title FROM open_listings o WHERE o.listing_id = p.offer_id) AS offer_title
        """,
        older_than_hours * 3600,
        limit,
        f"the proposal expired after {older_than_hours / 24:g} days without agreement",
    )
    return [dict(r) for r in rows]


async def all_open_listings(conn: Connection) -> list[OpenListing]:
    """Every open listing, for the park-wide optimiser."""
    rows = await conn.fetch(f"{_SELECT_OPEN} ORDER BY indexed_at, listing_id")
    return [_open_listing(r) for r in rows]


async def open_matcher_proposals(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT * FROM proposals WHERE status = 'proposed' AND origin = 'matcher'
        ORDER BY created_at, id
        """
    )
    return [dict(r) for r in rows]


async def insert_plan(
    conn: Connection,
    plan_id: uuid.UUID,
    goal: dict[str, Any],
    report: dict[str, Any],
    created_by: uuid.UUID,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        INSERT INTO plans (id, goal, report, created_by) VALUES ($1, $2, $3, $4)
        RETURNING *
        """,
        plan_id,
        goal,
        report,
        created_by,
    )
    assert row is not None
    return dict(row)


async def plan(conn: Connection, plan_id: uuid.UUID, lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM plans WHERE id = $1" + (" FOR UPDATE" if lock else ""), plan_id
    )
    return dict(row) if row else None


async def plans(conn: Connection, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM plans ORDER BY created_at DESC, id LIMIT $1", limit)
    return [dict(r) for r in rows]


async def mark_plan_accepted(
    conn: Connection, plan_id: uuid.UUID, accepted_by: uuid.UUID
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        UPDATE plans SET accepted_by = $2, accepted_at = now() WHERE id = $1 RETURNING *
        """,
        plan_id,
        accepted_by,
    )
    assert row is not None
    return dict(row)


async def open_plan_proposals(conn: Connection, except_plan: uuid.UUID) -> list[dict[str, Any]]:
    """Open proposals of earlier accepted plans, which a newly accepted plan supersedes."""
    rows = await conn.fetch(
        """
        SELECT p.*, o.title AS offer_title FROM proposals p
        LEFT JOIN open_listings o ON o.listing_id = p.offer_id
        WHERE p.status = 'proposed' AND p.origin = 'optimiser' AND p.plan_id <> $1
        ORDER BY p.created_at, p.id
        """,
        except_plan,
    )
    return [dict(r) for r in rows]


async def matcher_proposal(
    conn: Connection, offer_id: uuid.UUID, need_id: uuid.UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """
        SELECT id, status, retract_reason FROM proposals
        WHERE offer_id = $1 AND need_id = $2 AND origin = 'matcher'
        """,
        offer_id,
        need_id,
    )
    return dict(row) if row else None
