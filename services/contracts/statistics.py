"""Statistics for park administrators: volumes, money, contracts and impact, from the
impact ledger (confirmed deliveries) and the contracts; every table also as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from pydantic import BaseModel, Field

from services.contracts.storage import figures as figures_store
from shared.db import Pool
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
            head = await figures_store.headline(conn, start, until)
            tables = {
                name: [asdict(row) for row in await figures_store.table(conn, name, start, until)]
                for name in figures_store.QUERIES
            }
        return Statistics(
            period_from=start,
            period_until=until,
            headline=Headline.model_validate(head, from_attributes=True),
            **tables,
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
        if table not in figures_store.QUERIES:
            raise Problem(
                404,
                "Not found",
                f"no table {table!r}; choose one of {', '.join(figures_store.QUERIES)}",
            )
        _period(start, until)
        async with pool.acquire() as conn:
            rows = await figures_store.table(conn, table, start, until)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_columns(table), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else str(v) for k, v in asdict(row).items()})
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{table}.csv"'},
        )


def _columns(table: str) -> list[str]:
    """The header of a table: its row's fields, the query's own column names."""
    return figures_store.COLUMNS[table]
