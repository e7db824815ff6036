"""All SQL of the matching service."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.matching.domain import (
    Bound,
    OpenListing,
    Proposal,
    Terms,
    lookup_of,
    terms_of,
)
from shared.db import Connection, record_as, records_as

# The open listing's columns are its domain model's fields, by name (``domain.OpenListing``).
_FIELDS = tuple(f.name for f in fields(OpenListing))
# Fields kept as tuples in the model and as arrays (or JSON lists) in the table.
_SEQUENCES = frozenset(f.name for f in fields(OpenListing) if isinstance(f.default, tuple))
_COLUMNS = ", ".join(_FIELDS)
_SELECT_OPEN = f"SELECT {_COLUMNS} FROM open_listings"


def _open_listing(row: Any) -> OpenListing:
    values: dict[str, Any] = {
        name: tuple(row[name]) if name in _SEQUENCES else row[name] for name in _FIELDS
    }
    return OpenListing(**values)


# What index_listing writes: the model's fields, then what the index derives from them.
_INDEXED = (*_FIELDS, "resource", "keys", "keys_version")
# The listing's old key rows go in the same statement (one round trip less); its new ones
# are written by the next statement, which sees them gone.
_INDEX_LISTING = f"""
    WITH stale AS (
        DELETE FROM open_listing_keys WHERE listing_id = ${_INDEXED.index("listing_id") + 1}
    )
    INSERT INTO open_listings ({", ".join(_INDEXED)})
    VALUES ({", ".join(f"${i}" for i in range(1, len(_INDEXED) + 1))})
    ON CONFLICT (listing_id) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in _INDEXED if c != "listing_id")}
"""


@dataclass(frozen=True)
class ProposalRow:
    """A row of ``proposals``; ``offer_title`` where the query joins the offer's title."""

    id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    ewc_code: str | None
    resource_class: str | None
    quantity: Decimal
    unit: str
    reasons: list[str]
    reason_details: list[dict[str, Any]]
    value: dict[str, Any] | None
    status: str
    retracted_at: datetime | None
    retract_reason: str | None
    created_at: datetime
    origin: str
    plan_id: uuid.UUID | None
    offer_title: str | None = None


@dataclass(frozen=True)
class PairProposal:
    """Where the matcher's own proposal of a pair stands."""

    id: uuid.UUID
    status: str
    retract_reason: str | None


@dataclass(frozen=True)
class PlanRow:
    """A row of ``plans``: the optimiser's goal and report as JSON documents."""

    id: uuid.UUID
    goal: dict[str, Any]
    report: dict[str, Any]
    created_by: uuid.UUID
    created_at: datetime
    accepted_by: uuid.UUID | None
    accepted_at: datetime | None


async def lock_resources(conn: Connection, resources: list[str]) -> None:
    """Serialise matching per resource for this transaction, taking the locks in order.

    Without them, an offer and a need arriving at the same moment on two partitions (or
    two instances) would each look for the other before either committed, and the
    trade would never be proposed.
    """
    if not resources:
        return
    # One statement for all of them (one round trip, not one per key): the subquery hands
    # the keys to the lock in the list's order, so every matcher takes them in that order.
    await conn.execute(
        """
        SELECT count(pg_advisory_xact_lock(hashtext('matching.resource.' || resource)))
        FROM (
            SELECT resource FROM unnest($1::text[]) WITH ORDINALITY AS k(resource, n)
            ORDER BY n
        ) AS ordered
        """,
        resources,
    )


async def index_listing(conn: Connection, listing: OpenListing, keys_version: str) -> None:
    keys = sorted(listing.keys)
    values = [getattr(listing, name) for name in _FIELDS]
    await conn.execute(
        _INDEX_LISTING,
        *(list(v) if isinstance(v, tuple) else v for v in values),
        listing.resource,
        keys,
        keys_version,
    )
    await _key_rows(conn, listing, keys)


async def _key_rows(conn: Connection, listing: OpenListing, keys: list[str]) -> None:
    """The listing's rows of the key index: one per key, with its kind, company, site,
    window, resource and use, and the terms a lookup bounds a pair's worth by
    (``domain.terms_of``). The statement before has removed its old ones."""
    await conn.execute(
        _INSERT_KEY_ROWS, listing.listing_id, keys, *key_terms(listing, terms_of(listing))
    )


# The columns of a key row beside its listing id and key.
KEY_TERMS = (
    "kind",
    "company_id",
    "latitude",
    "longitude",
    "available_from",
    "available_until",
    "resource",
    "use",
    "dimension",
    "dimensions",
    "amount",
    "price_ore",
    "reach_km",
    "co2e_any",
    "co2e_uses",
    "co2e_rates",
    "quality_properties",
    "quality_units",
    "quality_low",
    "quality_high",
)
_INSERT_KEY_ROWS = f"""
    INSERT INTO open_listing_keys (listing_id, key, {", ".join(KEY_TERMS)})
    SELECT $1, key, {", ".join(f"${n}" for n in range(3, 3 + len(KEY_TERMS)))}
    FROM unnest($2::text[]) AS key"""


def key_terms(listing: OpenListing, terms: Terms) -> tuple[Any, ...]:
    """The values of ``KEY_TERMS`` for the listing (a site without both coordinates is
    none, as ``domain.distance_km`` reads it)."""
    sited = listing.latitude is not None and listing.longitude is not None
    return (
        listing.kind,
        listing.company_id,
        listing.latitude if sited else None,
        listing.longitude if sited else None,
        listing.available_from,
        listing.available_until,
        listing.resource,
        listing.use,
        terms.dimension,
        list(terms.dimensions),
        terms.amount,
        terms.price_ore,
        terms.reach_km,
        terms.co2e_any,
        list(terms.co2e_uses),
        list(terms.co2e_rates),
        *(list(column) for column in _quality_columns(terms)),
    )


def _quality_columns(
    terms: Terms,
) -> tuple[
    tuple[str, ...], tuple[str | None, ...], tuple[float | None, ...], tuple[float | None, ...]
]:
    if not terms.quality:
        return (), (), (), ()
    names, units, low, high = zip(*terms.quality, strict=True)
    return names, units, low, high


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
        """
        WITH stale AS (DELETE FROM open_listing_keys WHERE listing_id = $1)
        UPDATE open_listings SET keys = $2, keys_version = $3 WHERE listing_id = $1
        """,
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


# A pair's money (øre, surplus less haulage), CO2e (kg) and distance (km) as the database
# can bound them from the two listings' terms (``domain.Terms``, ``domain.Lookup``): the
# price gap times the smaller amount; the CO2e rate of the use the pair serves (the
# greater of two where the link could take either) times the smaller amount; the
# great-circle distance. Across dimensions (tonnes of steam against MWh: the rules
# convert) and for rows indexed before the terms existed, money and CO2e are unbounded.
# Parameters are ``@name`` (``_numbered``).
_AMOUNT = "least(@amount::float8, k.amount)"
_GAP = {
    "offer": "(k.price_ore - @price::float8)",
    "need": "(@price::float8 - k.price_ore)",
}
_OFFER_RATE = (
    "coalesce((@co2e_rates::float8[])[array_position(@co2e_uses::text[], k.use)], "
    "@co2e_any::float8)"
)
_SUBSTITUTE_USE = "(@substitute_uses::text[])[array_position(@substitute_resources, k.resource)]"
_NEED_RATE = "coalesce(k.co2e_rates[array_position(k.co2e_uses, {use})], k.co2e_any)"
_RATE = {
    # the offer's rates come with the lookup; the need's resource and use are on the row
    "offer": f"""CASE WHEN k.resource = @resource::text THEN {_OFFER_RATE}
        WHEN k.resource = ANY(@members::text[]) THEN greatest({_OFFER_RATE}, @co2e_any)
        WHEN k.resource = ANY(@substitute_resources::text[]) THEN greatest({_OFFER_RATE},
            (@substitute_rates::float8[])[array_position(@substitute_resources, k.resource)])
        ELSE {_OFFER_RATE} END""",
    # the offers' rates are on the rows; the need's resource, use and substitutes come with it
    "need": f"""coalesce(CASE
        WHEN k.resource = @resource::text OR k.resource = ANY(@accepts::text[])
            THEN {_NEED_RATE.format(use="@need_use::text")}
        WHEN k.resource = ANY(@members::text[]) THEN k.co2e_any
        WHEN k.resource = ANY(@substitute_resources::text[]) THEN greatest(
            {_NEED_RATE.format(use="@need_use")},
            {_NEED_RATE.format(use=_SUBSTITUTE_USE)})
        ELSE {_NEED_RATE.format(use="@need_use")} END, 'Infinity')""",
}
_UNBOUNDED = "k.dimension IS DISTINCT FROM @dimension::text"
_MONEY = {
    kind: f"CASE WHEN {_UNBOUNDED} THEN 'Infinity'::float8 "
    f"WHEN @price::float8 IS NULL OR k.price_ore IS NULL THEN 0 ELSE {gap} * {_AMOUNT} END"
    for kind, gap in _GAP.items()
}
_MONEY_ERROR = f"coalesce(1e-12 * (abs(k.price_ore) + abs(@price::float8)) * {_AMOUNT}, 0)"
_CO2E = {
    kind: f"CASE WHEN {_UNBOUNDED} THEN 'Infinity'::float8 ELSE greatest(0, {rate}) * {_AMOUNT} END"
    for kind, rate in _RATE.items()
}
# The great-circle distance (km) from the listing's site to the row's.
_KM = """2 * 6371.0 * asin(least(1, sqrt(
    power(sin(radians(k.latitude - @latitude::float8) / 2), 2)
    + cos(radians(@latitude::float8)) * cos(radians(k.latitude))
      * power(sin(radians(k.longitude - @longitude::float8) / 2), 2))))"""


def _rounded(value: str, error: str, scale: int, up: bool) -> str:
    """``value`` rounded as the ranking rounds it (``scale`` 1: to the øre, 100: to two
    decimals), when floating point cannot move it across a half (``error``: how far it may
    be from the exact value); else the next step up (an upper bound) or down (a lower one).
    Bounds that are exact make equal pairs tie exactly, so the index's order by listing id
    decides between them, as the ranking does."""
    low, high = f"({value} - {error}) * {scale}", f"({value} + {error}) * {scale}"
    edge = f"ceil({high})" if up else f"floor({low})"
    return f"""CASE WHEN {value} = 'Infinity' THEN {value}
        WHEN round({low}) = round({high}) THEN round({value} * {scale}) / {scale}
        ELSE {edge} / {scale} END"""


# Windows overlap (``domain.windows_overlap``); rows indexed before windows pass.
_WINDOW = """(greatest(@from::date, k.available_from) IS NULL
    OR least(@until::date, k.available_until) IS NULL
    OR greatest(@from::date, k.available_from) <= least(@until::date, k.available_until))"""
# The quantities convert: the need's dimension is among the offer's (``Terms``); rows
# indexed before the terms pass.
_CONVERTS = {
    "offer": "(k.dimensions IS NULL OR k.dimension = ANY(@dimensions::text[]))",
    "need": "(k.dimensions IS NULL OR @dimension::text = ANY(k.dimensions))",
}
# The quality rule (``fits``) for the first ``_LIMITS_CHECKED`` limits of a need (the
# rules check every one): what the offer states of the property, in the same unit, meets
# the limit. An offer's statements come with its lookup and the limits are on the needs'
# rows, or the other way round; rows indexed before the terms pass. Written out rather
# than as a subquery, which costs more than the rest of a row.
_LIMITS_CHECKED = 2


def _limit_met(position: str, units: str, low: str, high: str, limit: tuple[str, ...]) -> str:
    """Whether the statement at ``position`` (NULL: none) meets ``limit`` (its property,
    unit, min and max)."""
    _, unit, minimum, maximum = limit
    return f"""coalesce({units}[{position}] = {unit}
        AND ({minimum} IS NULL OR {low}[{position}] >= {minimum})
        AND ({maximum} IS NULL OR {high}[{position}] <= {maximum}), false)"""


def _quality(kind: str, limits: int) -> str:
    if kind == "offer":  # the limits are the rows'
        checks = []
        for j in range(1, _LIMITS_CHECKED + 1):
            limit = tuple(f"k.quality_{column}[{j}]" for column in _QUALITY_COLUMNS)
            position = f"array_position(@quality_properties::text[], {limit[0]})"
            met = _limit_met(
                position,
                "(@quality_units::text[])",
                "(@quality_low::float8[])",
                "(@quality_high::float8[])",
                limit,
            )
            checks.append(f"(coalesce(cardinality(k.quality_properties), 0) < {j} OR {met})")
        return " AND ".join(checks)
    checks = []  # the listing's limits
    for j in range(1, min(limits, _LIMITS_CHECKED) + 1):
        limit = tuple(f"@quality_{column}_{j}::{t}" for column, t in _QUALITY_TYPES)
        position = f"array_position(k.quality_properties, {limit[0]})"
        checks.append(
            _limit_met(position, "k.quality_units", "k.quality_low", "k.quality_high", limit)
        )
    return f"(k.dimension IS NULL OR ({' AND '.join(checks)}))"


_QUALITY_COLUMNS = ("properties", "units", "low", "high")
_QUALITY_TYPES = (("properties", "text"), ("units", "text"), ("low", "float8"), ("high", "float8"))
_ORDER = ("rank_money", "rank_co2e", "bound_km", "listing_id")
_SIDES = ("south", "north", "west", "east")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``@name`` as ``$n``, and the names in the order of their numbers."""
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found[1] not in names:
            names.append(found[1])
        return f"${names.index(found[1]) + 1}"

    return re.sub(r"@(\w+)", number, sql), tuple(names)


# How far a key row of the usual reach may be traded: the road's default, the farthest of
# every way of moving but rail's and ship's. A lookup that reaches farther reads the rows
# within it from the lookup index in a box of this size around its site, and only the rows
# that reach farther (or whose reach is unknown) in its whole box, from an index of their own
# (``open_listing_keys_far``, migration 0014, whose predicate is ``FAR_ROWS`` word for word:
# PostgreSQL uses a partial index only for a query that repeats its condition).
NEAR_KM = 100
FAR_ROWS = f"(k.reach_km > {NEAR_KM} OR k.reach_km IS NULL)"


def _ranked_sql(kind: str, site: str, limits: int) -> tuple[str, tuple[str, ...]]:
    """Counterparts of a listing of ``kind``, best bound first: rows of the other kind that
    share a key, from other companies, whose windows overlap and quantities convert, and
    (for a listing with a site) without a site or within reach of it (a box the index
    narrows, then the distance with a margin), and whose quality meets the first limits
    (a need's: ``limits`` of them); read in pages, each after the last row of the page
    before (``@after_*``).

    ``site`` is ``"none"`` (the listing has none), ``"near"`` (its reach is ``NEAR_KM`` or
    less: one box) or ``"far"`` (it reaches farther: the rows of the usual reach in a box
    of ``NEAR_KM`` (``@near_*``), since a pair is never farther apart than the nearer of
    the two reaches, and the rows that reach farther in the whole box). A need that sets no
    distance keeps a reach of 1,000 km: it read every offer of its keys in the country.

    The longitude is compared as ``k.longitude + 0``, a filter on the index's rows rather
    than a condition of the index: as a condition after the latitude's range, PostgreSQL 18
    priced the lookup index as a skip scan and read the whole primary key index or the
    whole table instead (61 ms and 188 ms against 0.2 ms and 1.2 ms for two keys)."""
    raw = (
        f"k.listing_id, {_MONEY[kind]} AS money, {_MONEY_ERROR} AS money_error, "
        f"{_CO2E[kind]} AS co2e"
    )
    others = f"""FROM open_listing_keys k
        WHERE k.key = ANY(@keys::text[]) AND k.kind = @other_kind::text
          AND k.company_id <> @company::uuid AND {_WINDOW} AND {_CONVERTS[kind]}"""
    if kind == "offer" or limits:
        others += f" AND {_quality(kind, limits)}"

    def within(box: str, rows: str = "") -> str:
        return f"""
            SELECT {raw}, {_KM} AS km {others} {rows}
              AND k.latitude BETWEEN @{box}south::float8 AND @{box}north::float8
              AND k.longitude + 0 BETWEEN @{box}west::float8 AND @{box}east::float8
              AND {_KM} <= least(@reach::float8, k.reach_km) + 0.01"""

    unsited = f"SELECT {raw}, 0::float8 AS km {others} AND k.latitude IS NULL"
    if site == "near":
        found = f"{within('')} UNION ALL {unsited}"
    elif site == "far":
        found = f"""{within("near_", f"AND k.reach_km <= {NEAR_KM}")}
            UNION ALL {within("", f"AND {FAR_ROWS}")}
            UNION ALL {unsited}"""
    else:
        found = f"SELECT {raw}, 0::float8 AS km {others}"
    money_error = "(money_error + 1e-12 * abs(money) + 1e-9)"
    bounds = f"""listing_id,
        -({_rounded("money", money_error, 1, up=True)}) AS rank_money,
        -({_rounded("co2e", "(1e-12 * co2e + 1e-9)", 100, up=True)}) AS rank_co2e,
        {_rounded("km", "1e-7", 100, up=False)} AS bound_km"""
    columns = ", ".join(f"l.{name.strip()}" for name in _COLUMNS.split(","))
    order = ", ".join(_ORDER)
    return _numbered(f"""
        SELECT {columns}, top.rank_money, top.rank_co2e, top.bound_km
        FROM (SELECT DISTINCT * FROM (
                SELECT * FROM (SELECT {bounds} FROM ({found} OFFSET 0) AS raw) AS found
                WHERE @after_money::float8 IS NULL
                   OR ({order}) > (@after_money::float8, @after_co2e::float8,
                                   @after_km::float8, @after_id::uuid)
                ORDER BY {order} LIMIT @limit::int * cardinality(@keys::text[])) AS first
              ORDER BY {order} LIMIT @limit::int) AS top
        JOIN open_listings l USING (listing_id)
        ORDER BY {", ".join(f"top.{column}" for column in _ORDER)}""")


_RANKED = {
    (kind, site, limits): _ranked_sql(kind, site, limits)
    for kind in _GAP
    for site in ("none", "near", "far")
    for limits in range(_LIMITS_CHECKED + 1)
}


async def ranked_counterparts(
    conn: Connection,
    listing: OpenListing,
    limit: int,
    after: tuple[OpenListing, Bound] | None = None,
) -> list[tuple[OpenListing, Bound]]:
    """Open listings that could make a trade with ``listing``, at most ``limit``, in the
    order of what a pair with each could at best be worth (``domain.Bound``), from the one
    after ``after`` (the last of the page before).

    A superset of those that fit: those of the other kind that share an index key with it,
    of other companies, whose windows overlap and quantities convert, and (when the
    listing has a site) without a site or within reach of it; the exact rules are the
    matcher's.
    """
    lookup = lookup_of(listing)
    terms = lookup.terms
    last: tuple[Any, ...] = (None, None, None, None)
    if after is not None:
        other, bound = after
        last = (*bound.rank, other.listing_id)
    values: dict[str, Any] = {
        "keys": lookup.keys,
        "other_kind": "need" if listing.kind == "offer" else "offer",
        "company": listing.company_id,
        "limit": limit,
        "after_money": last[0],
        "after_co2e": last[1],
        "after_km": last[2],
        "after_id": last[3],
        "dimension": terms.dimension,
        "dimensions": list(terms.dimensions),
        "amount": terms.amount,
        "price": terms.price_ore,
        "co2e_any": terms.co2e_any,
        "co2e_uses": list(terms.co2e_uses),
        "co2e_rates": list(terms.co2e_rates),
        "resource": lookup.resource,
        "accepts": list(lookup.accepts),
        "need_use": lookup.need_use,
        "members": list(lookup.members),
        "substitute_resources": list(lookup.substitute_resources),
        "substitute_uses": list(lookup.substitute_uses),
        "substitute_rates": list(lookup.substitute_rates),
        "from": listing.available_from,
        "until": listing.available_until,
    }
    site = "none"
    if listing.latitude is not None and listing.longitude is not None:
        site = "far" if terms.reach_km > NEAR_KM else "near"
        values.update(latitude=listing.latitude, longitude=listing.longitude, reach=terms.reach_km)
        for box, km in (("", terms.reach_km), ("near_", min(terms.reach_km, NEAR_KM))):
            bounds = bounding_box(listing.latitude, listing.longitude, km)
            values.update(zip((f"{box}{side}" for side in _SIDES), bounds, strict=True))
    for name, column in zip(_QUALITY_COLUMNS, _quality_columns(terms), strict=True):
        values[f"quality_{name}"] = list(column)
        for j, value in enumerate(column[:_LIMITS_CHECKED], 1):
            values[f"quality_{name}_{j}"] = value
    limits = min(len(terms.quality), _LIMITS_CHECKED) if listing.kind == "need" else 0
    sql, names = _RANKED[(listing.kind, site, limits)]
    rows = await conn.fetch(sql, *(values[name] for name in names))
    return [
        (_open_listing(r), Bound(-r["rank_money"], -r["rank_co2e"], r["bound_km"])) for r in rows
    ]


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


async def proposals_of(conn: Connection, company_id: uuid.UUID) -> list[ProposalRow]:
    rows = await conn.fetch(
        """
        SELECT * FROM proposals WHERE supplier_company_id = $1 OR receiver_company_id = $1
        ORDER BY created_at DESC, id
        """,
        company_id,
    )
    return records_as(ProposalRow, rows)


async def open_proposals_of(conn: Connection, listing_id: uuid.UUID) -> list[ProposalRow]:
    rows = await conn.fetch(
        """
        SELECT p.*, o.title AS offer_title FROM proposals p
        LEFT JOIN open_listings o ON o.listing_id = p.offer_id
        WHERE (p.offer_id = $1 OR p.need_id = $1) AND p.status = 'proposed'
        ORDER BY p.created_at, p.id
        """,
        listing_id,
    )
    return records_as(ProposalRow, rows)


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
) -> ProposalRow | None:
    row = await conn.fetchrow(
        """
        SELECT * FROM proposals
        WHERE id = $1 AND (supplier_company_id = $2 OR receiver_company_id = $2)
        """,
        proposal_id,
        company_id,
    )
    return record_as(ProposalRow, row) if row else None


async def expire_proposals(
    conn: Connection, older_than_hours: float, limit: int = 100
) -> list[ProposalRow]:
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
    return records_as(ProposalRow, rows)


async def all_open_listings(conn: Connection) -> list[OpenListing]:
    """Every open listing, for the park-wide optimiser."""
    rows = await conn.fetch(f"{_SELECT_OPEN} ORDER BY indexed_at, listing_id")
    return [_open_listing(r) for r in rows]


async def open_matcher_proposals(conn: Connection) -> list[ProposalRow]:
    rows = await conn.fetch(
        """
        SELECT * FROM proposals WHERE status = 'proposed' AND origin = 'matcher'
        ORDER BY created_at, id
        """
    )
    return records_as(ProposalRow, rows)


async def insert_plan(
    conn: Connection,
    plan_id: uuid.UUID,
    goal: dict[str, Any],
    report: dict[str, Any],
    created_by: uuid.UUID,
) -> PlanRow:
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
    return record_as(PlanRow, row)


async def plan(conn: Connection, plan_id: uuid.UUID, lock: bool = False) -> PlanRow | None:
    row = await conn.fetchrow(
        "SELECT * FROM plans WHERE id = $1" + (" FOR UPDATE" if lock else ""), plan_id
    )
    return record_as(PlanRow, row) if row else None


async def plans(conn: Connection, limit: int) -> list[PlanRow]:
    rows = await conn.fetch("SELECT * FROM plans ORDER BY created_at DESC, id LIMIT $1", limit)
    return records_as(PlanRow, rows)


async def mark_plan_accepted(
    conn: Connection, plan_id: uuid.UUID, accepted_by: uuid.UUID
) -> PlanRow:
    row = await conn.fetchrow(
        """
        UPDATE plans SET accepted_by = $2, accepted_at = now() WHERE id = $1 RETURNING *
        """,
        plan_id,
        accepted_by,
    )
    assert row is not None
    return record_as(PlanRow, row)


async def open_plan_proposals(conn: Connection, except_plan: uuid.UUID) -> list[ProposalRow]:
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
    return records_as(ProposalRow, rows)


async def matcher_proposal(
    conn: Connection, offer_id: uuid.UUID, need_id: uuid.UUID
) -> PairProposal | None:
    row = await conn.fetchrow(
        """
        SELECT id, status, retract_reason FROM proposals
        WHERE offer_id = $1 AND need_id = $2 AND origin = 'matcher'
        """,
        offer_id,
        need_id,
    )
    return record_as(PairProposal, row) if row else None
