"""Each company's own report, and the park administrator's for the whole park: for any
period, what it supplied and received, money earned, paid and saved, tonnes kept out of
disposal, virgin material, water and energy replaced, CO2e avoided net of transport, each
with its factors and sources, mapped to the goals Viken Park reports on. JSON, PDF and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import astuple, fields
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from pydantic import BaseModel, Field

from services.contracts import storage
from services.contracts.domain import report as rules
from services.contracts.problems import REFUSALS, company
from services.contracts.storage import figures as figures_store
from shared.db import Pool
from shared.http import Problem, principal_of

Language = Literal["nb", "en"]

# The CSV's columns of exchanges: those of its rows, or a short header when there are none.
_EXCHANGE_COLUMNS = [f.name for f in fields(figures_store.ReportExchange)]
_EMPTY_EXCHANGE_COLUMNS = ["delivered_on", "delivery_id", "resource", "quantity"]


class Figure(BaseModel):
    key: str = Field(description="`tonnes_diverted`, `co2e_net_kg`, ...")
    value: Decimal
    unit: str


class GoalView(BaseModel):
    id: str = Field(description="`SDG 12.5`, `SDG 12.2`, `SDG 9.4`, `SDG 7.a`, the EU taxonomy.")
    title_nb: str
    title_en: str
    figures: list[str] = Field(description="The keys of the figures that speak to it.")


class Report(BaseModel):
    """A company's (or the park's) figures for a period (delivery dates, inclusive)."""

    company_id: uuid.UUID | None = Field(description="None for the whole park.")
    name: str
    period_from: date | None
    period_until: date | None
    deliveries: int
    co2e_not_estimated: int = Field(
        description="Deliveries whose resource has no sourced factors: no CO2e avoided is "
        "counted for them, and their transport is left out of the net figure."
    )
    figures: list[Figure]
    goals: list[GoalView]
    factors: list[dict[str, Any]] = Field(description="Each factor used: key, value, source.")
    basis: list[str] = Field(description="The counterfactuals and what is not counted.")


def _period(start: date | None, until: date | None) -> None:
    if start and until and start > until:
        raise Problem(
            400,
            "The request is not valid",
            "the period starts after it ends",
            errors=[{"field": "start", "message": "must not be after `until`"}],
        )


async def _report(
    pool: Pool, company_id: uuid.UUID | None, start: date | None, until: date | None
) -> Report:
    _period(start, until)
    async with pool.acquire() as conn:
        totals = await figures_store.report(conn, company_id, start, until)
        party = await storage.company(conn, company_id) if company_id else None
    return Report(
        company_id=company_id,
        name=party.name if party else "Viken Park",
        period_from=start,
        period_until=until,
        deliveries=totals.deliveries,
        co2e_not_estimated=totals.not_estimated,
        figures=[Figure(**f) for f in rules.figures(totals)],
        goals=[GoalView(**g) for g in rules.goals()],
        factors=rules.factors(totals.factors),
        basis=sorted(totals.basis),
    )


def _pdf(report: Report, language: str) -> Response[bytes]:
    from services.contracts.documents import pdf  # fpdf2 is slow to import: only when asked

    content = pdf.report(report.model_dump(mode="json"), language)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="impact-report.pdf"'},
    )


async def _csv(pool: Pool, report: Report, company_id: uuid.UUID | None) -> Response[str]:
    """The figures, each with the goals it serves, then every exchange behind them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["figure", "value", "unit", "goals"])
    for figure in report.figures:
        served = [g.id for g in report.goals if figure.key in g.figures]
        writer.writerow([figure.key, figure.value, figure.unit, "; ".join(served)])
    async with pool.acquire() as conn:
        rows = await figures_store.report_rows(
            conn, company_id, report.period_from, report.period_until
        )
    writer.writerow([])
    writer.writerow(_EXCHANGE_COLUMNS if rows else _EMPTY_EXCHANGE_COLUMNS)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in astuple(row)])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="impact-report.csv"'},
    )


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]
    exception_handlers = REFUSALS

    @get("/mine", operation_id="my_report")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Report:
        """Your company's figures for the period (`start`, `until`: delivery dates,
        inclusive), with their factors and sources and the goals they speak to."""
        mine = company(principal_of(request, "trades:read"))
        return await _report(pool, mine, start, until)

    @get("/mine/pdf", operation_id="my_report_pdf", media_type="application/pdf")
    async def mine_pdf(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        lang: FromQuery[Language] = "nb",
    ) -> Response[bytes]:
        """Your company's report as a PDF (`lang`: `nb` or `en`)."""
        mine = company(principal_of(request, "trades:read"))
        return _pdf(await _report(pool, mine, start, until), lang)

    @get("/mine/csv", operation_id="my_report_csv", media_type="text/csv")
    async def mine_csv(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Response[str]:
        """Your company's report as CSV: the figures with their goals, then each exchange."""
        mine = company(principal_of(request, "trades:read"))
        return await _csv(pool, await _report(pool, mine, start, until), mine)

    @get("/park", operation_id="park_report")
    async def park(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Report:
        """Park administrators: the same report for the whole park."""
        principal_of(request, "park:read")
        return await _report(pool, None, start, until)

    @get("/park/pdf", operation_id="park_report_pdf", media_type="application/pdf")
    async def park_pdf(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        lang: FromQuery[Language] = "nb",
    ) -> Response[bytes]:
        """Park administrators: the park's report as a PDF."""
        principal_of(request, "park:read")
        return _pdf(await _report(pool, None, start, until), lang)

    @get("/park/csv", operation_id="park_report_csv", media_type="text/csv")
    async def park_csv(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        start: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Response[str]:
        """Park administrators: the park's report as CSV."""
        principal_of(request, "park:read")
        return await _csv(pool, await _report(pool, None, start, until), None)
