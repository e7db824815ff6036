"""SQL of the park's figures: the headline and the tables of the statistics, all from
the impact ledger (one row per confirmed delivery) and the contracts."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.contracts.domain.report import Totals
from services.contracts.storage import one
from shared.db import Connection, record_as, records_as

# --- Rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    month: str  # YYYY-MM
    deliveries: int
    tonnes: Decimal
    co2e_avoided_kg: Decimal
    nok: Decimal


@dataclass(frozen=True)
class ResourceFigures:
    resource: str
    deliveries: int
    unit: str
    quantity: Decimal
    tonnes_diverted: Decimal
    co2e_avoided_kg: Decimal
    nok: Decimal


@dataclass(frozen=True)
class CompanyFigures:
    company_id: uuid.UUID
    deliveries_supplied: int
    deliveries_received: int
    tonnes_supplied: Decimal
    tonnes_received: Decimal
    nok_received: Decimal
    nok_paid: Decimal


@dataclass(frozen=True)
class Flow:
    """Supplier → receiver of one resource: a link of a Sankey diagram."""

    source: uuid.UUID
    target: uuid.UUID
    resource: str
    unit: str
    quantity: Decimal
    deliveries: int
    co2e_avoided_kg: Decimal


@dataclass(frozen=True)
class Exchange:
    """One confirmed delivery's impact, as the statistics list it."""

    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    delivered_on: date
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    resource: str
    quantity: Decimal
    unit: str
    tonnes_diverted: Decimal | None
    water_m3: Decimal | None
    energy_mwh: Decimal | None
    co2e_avoided_kg: Decimal | None
    transport_kg_co2e: Decimal | None
    nok: Decimal
    supplier_gain_nok: Decimal | None
    receiver_gain_nok: Decimal | None
    basis: str
    factors: str | None  # the factors' keys, space-separated


@dataclass(frozen=True)
class ReportExchange:
    """One exchange behind a company's (or the park's) report, as its CSV lists it."""

    delivered_on: date
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    resource: str
    quantity: Decimal
    unit: str
    tonnes_diverted: Decimal | None
    water_m3: Decimal | None
    energy_mwh: Decimal | None
    co2e_avoided_kg: Decimal | None
    transport_kg_co2e: Decimal | None
    nok: Decimal
    factors: str | None


@dataclass(frozen=True)
class HeadlineFigures:
    """The park's totals for a period."""

    deliveries: int
    tonnes_exchanged: Decimal
    tonnes_diverted: Decimal
    water_m3: Decimal
    energy_mwh: Decimal
    co2e_avoided_kg: Decimal
    transport_kg_co2e: Decimal
    nok_moved: Decimal
    active_contracts: int
    active_companies: int


FigureRow = MonthFigures | ResourceFigures | CompanyFigures | Flow | Exchange

# Each table of the statistics, and the row it is made of.
TABLES: dict[str, type[FigureRow]] = {
    "months": MonthFigures,
    "resources": ResourceFigures,
    "companies": CompanyFigures,
    "flows": Flow,
    "exchanges": Exchange,
}

_WHERE = (
    "WHERE reversed_at IS NULL AND ($1::date IS NULL OR delivered_on >= $1) "
    "AND ($2::date IS NULL OR delivered_on <= $2)"
)

QUERIES: dict[str, str] = {
    "months": f"""
        SELECT to_char(delivered_on, 'YYYY-MM') AS month, count(*) AS deliveries,
               coalesce(sum(CASE unit WHEN 't' THEN quantity WHEN 'kg' THEN quantity / 1000 END), 0)
                   AS tonnes,
               coalesce(sum(co2e_avoided_kg), 0) AS co2e_avoided_kg,
               coalesce(sum(abs(amount_ore)), 0) / 100.0 AS nok
        FROM impact_entries {_WHERE} GROUP BY 1 ORDER BY 1""",
    "resources": f"""
        SELECT resource, count(*) AS deliveries, unit, sum(quantity) AS quantity,
               coalesce(sum(tonnes_diverted), 0) AS tonnes_diverted,
               coalesce(sum(co2e_avoided_kg), 0) AS co2e_avoided_kg,
               coalesce(sum(abs(amount_ore)), 0) / 100.0 AS nok
        FROM impact_entries {_WHERE} GROUP BY resource, unit ORDER BY quantity DESC, resource""",
    "companies": f"""
        SELECT company_id, sum(supplied) AS deliveries_supplied,
               sum(received) AS deliveries_received,
               sum(tonnes_supplied) AS tonnes_supplied, sum(tonnes_received) AS tonnes_received,
               sum(earned) / 100.0 AS nok_received, sum(paid) / 100.0 AS nok_paid
        FROM (
            SELECT supplier_company_id AS company_id, 1 AS supplied, 0 AS received,
                   coalesce(CASE unit WHEN 't' THEN quantity WHEN 'kg' THEN quantity / 1000 END, 0)
                       AS tonnes_supplied, 0 AS tonnes_received,
                   greatest(amount_ore, 0) AS earned, greatest(-amount_ore, 0) AS paid
            FROM impact_entries {_WHERE}
            UNION ALL
            SELECT receiver_company_id, 0, 1, 0,
                   coalesce(CASE unit WHEN 't' THEN quantity WHEN 'kg' THEN quantity / 1000 END, 0),
                   greatest(-amount_ore, 0), greatest(amount_ore, 0)
            FROM impact_entries {_WHERE}
        ) sides GROUP BY company_id ORDER BY company_id""",
    "flows": f"""
        SELECT supplier_company_id AS source, receiver_company_id AS target, resource, unit,
               sum(quantity) AS quantity, count(*) AS deliveries,
               coalesce(sum(co2e_avoided_kg), 0) AS co2e_avoided_kg
        FROM impact_entries {_WHERE}
        GROUP BY 1, 2, 3, 4 ORDER BY quantity DESC, 1, 2, 3""",
    "exchanges": f"""
        SELECT delivery_id, contract_id, delivered_on, supplier_company_id, receiver_company_id,
               resource, quantity, unit, tonnes_diverted, water_m3, energy_mwh,
               co2e_avoided_kg, transport_kg_co2e, amount_ore / 100.0 AS nok,
               supplier_gain_ore / 100.0 AS supplier_gain_nok,
               receiver_gain_ore / 100.0 AS receiver_gain_nok, basis,
               (SELECT string_agg(f->>'key', ' ') FROM jsonb_array_elements(factors) f)
                   AS factors
        FROM impact_entries {_WHERE} ORDER BY delivered_on, delivery_id""",
}


# The header of each table, also when it is empty: its row's fields, in the query's order.
COLUMNS: dict[str, list[str]] = {
    name: [f.name for f in dataclasses.fields(cls)] for name, cls in TABLES.items()
}


HEADLINE = f"""
    SELECT count(*) AS deliveries,
           coalesce(sum(CASE unit WHEN 't' THEN quantity
                                  WHEN 'kg' THEN quantity / 1000 END), 0)
               AS tonnes_exchanged,
           coalesce(sum(tonnes_diverted), 0) AS tonnes_diverted,
           coalesce(sum(water_m3), 0) AS water_m3,
           coalesce(sum(energy_mwh), 0) AS energy_mwh,
           coalesce(sum(co2e_avoided_kg), 0) AS co2e_avoided_kg,
           coalesce(sum(transport_kg_co2e), 0) AS transport_kg_co2e,
           coalesce(sum(abs(amount_ore)), 0) / 100.0 AS nok_moved,
           (SELECT count(*) FROM contracts WHERE status = 'active')
               AS active_contracts,
           (SELECT count(DISTINCT c) FROM impact_entries i2,
                LATERAL (VALUES (i2.supplier_company_id), (i2.receiver_company_id)) v(c)
            WHERE i2.reversed_at IS NULL AND ($1::date IS NULL OR i2.delivered_on >= $1)
              AND ($2::date IS NULL OR i2.delivered_on <= $2)) AS active_companies
    FROM impact_entries {_WHERE}
"""


async def headline(conn: Connection, start: date | None, end: date | None) -> HeadlineFigures:
    """The period's totals (delivery dates, inclusive; None: unbounded)."""
    row = await conn.fetchrow(HEADLINE, start, end)
    assert row is not None  # an aggregate always has a row
    return record_as(HeadlineFigures, row)


async def table(
    conn: Connection, name: str, start: date | None, end: date | None
) -> list[FigureRow]:
    """One of ``QUERIES``' tables for the period."""
    return list(records_as(TABLES[name], await conn.fetch(QUERIES[name], start, end)))


_TONNES = "CASE unit WHEN 't' THEN quantity WHEN 'kg' THEN quantity / 1000 END"
_VIRGIN = (
    "EXISTS (SELECT 1 FROM jsonb_array_elements(factors) f WHERE f->>'key' LIKE 'mat.%.primary')"
)
_MINE = (
    "($3::uuid IS NULL OR $3 IN (supplier_company_id, receiver_company_id)) "
    "AND reversed_at IS NULL AND ($1::date IS NULL OR delivered_on >= $1) "
    "AND ($2::date IS NULL OR delivered_on <= $2)"
)

REPORT = f"""
    SELECT count(*) AS deliveries,
           coalesce(sum({_TONNES}) FILTER (
               WHERE $3::uuid IS NULL OR supplier_company_id = $3), 0) AS supplied_tonnes,
           coalesce(sum({_TONNES}) FILTER (
               WHERE $3::uuid IS NULL OR receiver_company_id = $3), 0) AS received_tonnes,
           coalesce(sum(CASE WHEN $3::uuid IS NULL THEN abs(amount_ore)
                             WHEN supplier_company_id = $3 THEN greatest(amount_ore, 0)
                             ELSE greatest(-amount_ore, 0) END), 0) AS earned_ore,
           coalesce(sum(CASE WHEN $3::uuid IS NULL THEN abs(amount_ore)
                             WHEN supplier_company_id = $3 THEN greatest(-amount_ore, 0)
                             ELSE greatest(amount_ore, 0) END), 0) AS paid_ore,
           coalesce(sum(CASE WHEN $3::uuid IS NULL
                                 THEN coalesce(supplier_gain_ore, 0)
                                      + coalesce(receiver_gain_ore, 0)
                             WHEN supplier_company_id = $3 THEN coalesce(supplier_gain_ore, 0)
                             ELSE coalesce(receiver_gain_ore, 0) END), 0) AS saved_ore,
           coalesce(sum(tonnes_diverted), 0) AS tonnes_diverted,
           coalesce(sum({_TONNES}) FILTER (WHERE {_VIRGIN}), 0) AS virgin_material_tonnes,
           coalesce(sum(water_m3), 0) AS water_m3,
           coalesce(sum(energy_mwh), 0) AS energy_mwh,
           coalesce(sum(co2e_avoided_kg), 0) AS co2e_avoided_kg,
           coalesce(sum(transport_kg_co2e), 0) AS transport_kg_co2e,
           coalesce(sum(co2e_avoided_kg - coalesce(transport_kg_co2e, 0)), 0) AS co2e_net_kg,
           count(*) FILTER (WHERE co2e_avoided_kg IS NULL) AS not_estimated,
           coalesce(jsonb_agg(factors) FILTER (WHERE factors IS NOT NULL), '[]') AS factors,
           coalesce(array_agg(DISTINCT basis) FILTER (WHERE basis IS NOT NULL), '{{}}')
               AS basis
    FROM impact_entries WHERE {_MINE}
"""


async def report(
    conn: Connection, company_id: uuid.UUID | None, start: date | None, end: date | None
) -> Totals:
    """A company's totals over its exchanges in the period (the park's, for None)."""
    return one(Totals, await conn.fetchrow(REPORT, start, end, company_id))


REPORT_ROWS = f"""
    SELECT delivered_on, delivery_id, contract_id, supplier_company_id,
           receiver_company_id, resource, quantity, unit, tonnes_diverted, water_m3,
           energy_mwh, co2e_avoided_kg, transport_kg_co2e, amount_ore / 100.0 AS nok,
           (SELECT string_agg(f->>'key', ' ') FROM jsonb_array_elements(factors) f)
               AS factors
    FROM impact_entries WHERE {_MINE} ORDER BY delivered_on, delivery_id
"""


async def report_rows(
    conn: Connection, company_id: uuid.UUID | None, start: date | None, end: date | None
) -> list[ReportExchange]:
    """Each exchange behind a report, as the CSV lists them."""
    return records_as(ReportExchange, await conn.fetch(REPORT_ROWS, start, end, company_id))
