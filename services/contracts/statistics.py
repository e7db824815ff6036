"""Statistics for park administrators: volumes, money, contracts and impact, from the
impact ledger (confirmed deliveries) and the contracts; every table also as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from pydantic import BaseModel, Field

from shared.db import Connection, Pool
from shared.http import Problem, principal_of

Table = Literal["months", "resources", "companies", "flows", "exchanges"]


class Headline(BaseModel):
    deliveries: int
    tonnes_exchanged: Decimal = Field(description="Confirmed deliveries measured in mass.")
    tonnes_diverted: Decimal = Field(description="Waste (List of Waste codes) kept from disposal.")
    water_m3: Decimal
    energy_mwh: Decimal
    co2e_avoided_kg: Decimal = Field(description="Where estimated; see each exchange's basis.")
    transport_kg_co2e: Decimal
    nok_moved: Decimal = Field(description="Paid for the deliveries, before MVA, both ways.")
    active_contracts: int = Field(description="Active now, whatever the period.")
    active_companies: int = Field(description="Companies with a confirmed delivery.")


class Statistics(BaseModel):
    """Figures of the park for a period (delivery dates, inclusive)."""

    period_from: date | None
    period_until: date | None
    headline: Headline
    months: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    companies: list[dict[str, Any]]
    flows: list[dict[str, Any]] = Field(
        description="Supplier → receiver per resource: the links of a Sankey diagram."
    )
    exchanges: list[dict[str, Any]] = Field(description="Each confirmed delivery's impact.")


_WHERE = (
    "WHERE ($1::date IS NULL OR delivered_on >= $1) AND ($2::date IS NULL OR delivered_on <= $2)"
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


COLUMNS: dict[str, list[str]] = {
    "months": ["month", "deliveries", "tonnes", "co2e_avoided_kg", "nok"],
    "resources": [
        "resource",
        "deliveries",
        "unit",
        "quantity",
        "tonnes_diverted",
        "co2e_avoided_kg",
        "nok",
    ],
    "companies": [
        "company_id",
        "deliveries_supplied",
        "deliveries_received",
        "tonnes_supplied",
        "tonnes_received",
        "nok_received",
        "nok_paid",
    ],
    "flows": ["source", "target", "resource", "unit", "quantity", "deliveries", "co2e_avoided_kg"],
    "exchanges": [
        "delivery_id",
        "contract_id",
        "delivered_on",
        "supplier_company_id",
        "receiver_company_id",
        "resource",
        "quantity",
        "unit",
        "tonnes_diverted",
        "water_m3",
        "energy_mwh",
        "co2e_avoided_kg",
        "transport_kg_co2e",
        "nok",
        "supplier_gain_nok",
        "receiver_gain_nok",
        "basis",
        "factors",
    ],
}


def _clean(row: Any) -> dict[str, Any]:
    return dict(row)


async def _table(
    conn: Connection, name: str, start: date | None, end: date | None
) -> list[dict[str, Any]]:
    return [_clean(r) for r in await conn.fetch(QUERIES[name], start, end)]


def _period(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise Problem(
            400,
            "The request is not valid",
            "the period starts after it ends",
            errors=[{"field": "start", "message": "must not be after `until`"}],
        )


class StatisticsController(Controller):
    path = "/statistics"
    tags = ["statistics"]

    @get("/", operation_id="park_statistics")
    async def figures(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Statistics:
        """Park administrators: tonnes exchanged and diverted, water, energy, CO2e avoided,
        money moved, active contracts and companies; by month, resource and company; flows
        between companies; and each exchange's impact with its factors. `start` and `until`
        bound the delivery dates (inclusive)."""
        principal_of(request, "park:read")
        _period(start, until)
        async with pool.acquire() as conn:
            head = await conn.fetchrow(
                f"""
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
                        WHERE ($1::date IS NULL OR i2.delivered_on >= $1)
                          AND ($2::date IS NULL OR i2.delivered_on <= $2)) AS active_companies
                FROM impact_entries {_WHERE}
                """,
                start,
                until,
            )
            assert head is not None
            tables = {name: await _table(conn, name, start, until) for name in QUERIES}
        return Statistics(
            period_from=start, period_until=until, headline=Headline(**dict(head)), **tables
        )

    @get("/csv/{table:str}", operation_id="park_statistics_csv", media_type="text/csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        table: FromPath[str],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Response[str]:
        """Park administrators: one table as CSV (`months`, `resources`, `companies`,
        `flows` or `exchanges`), for the same period parameters."""
        principal_of(request, "park:read")
        if table not in QUERIES:
            raise Problem(
                404, "Not found", f"no table {table!r}; choose one of {', '.join(QUERIES)}"
            )
        _period(start, until)
        async with pool.acquire() as conn:
            rows = await _table(conn, table, start, until)
        out = io.StringIO()
        columns = list(rows[0]) if rows else _columns(table)
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else str(v) for k, v in row.items()})
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{table}.csv"'},
        )


def _columns(table: str) -> list[str]:
    """The header of an empty table: the query's own column names."""
    return COLUMNS[table]
