"""The park administrators' dashboard: the park's figures for a period, its flows drawn as
a Sankey diagram and on the plan, the optimiser's plan beside the pairwise proposals, and
every table as CSV.

Everything comes from the services' APIs with the administrator's token: the figures from
contracts' `/statistics/`, company names and places from listings, plans from matching.
The chart data is computed here (``volumes``, ``sankey``, ``exchange_lines``) and handed
to static/dashboard.js as JSON; every chart has its table beside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect, Template

from services.portal import plan
from services.portal.client import Api, ApiProblem
from services.portal.forms import day as typed_day
from services.portal.forms import machine_number
from services.portal.i18n import N_, _, current_language
from services.portal.pages import DEPENDENCIES, form_of, render, see_other
from services.portal.problems import FormErrors, explain
from services.portal.session import person_of, signed_in
from services.portal.vocabulary import word
from shared.ewc import catalogue, spaced

TABLES = ("months", "resources", "companies", "flows", "exchanges")
TOP_RESOURCES = 8
PRESETS: dict[str, str] = {
    "all": N_("All time"),
    "12m": N_("Last 12 months"),
    "year": N_("This year"),
    "30d": N_("Last 30 days"),
}
OBJECTIVES: dict[str, str] = {
    "surplus": N_("Most value for the park (NOK)"),
    "co2e": N_("Most CO2e avoided"),
    "mix": N_("Value and CO2e, with a carbon price"),
}

PLAN_STATUSES: dict[str, str] = {
    "optimal": N_("optimal"),
    "time limit": N_("the best found within the time limit"),
    "failed": N_("no plan found"),
}


class NotParkAdmin(PermissionDeniedException):
    """A signed-in person who is not a park administrator."""


def park_admins_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the dashboard is for park administrators (others are told so in words)."""
    person = person_of(connection)
    if person is not None and not person.is_park_admin:
        raise NotParkAdmin("park administrators only")


def period(
    preset: str | None, start: str | None, until: str | None, today: date
) -> tuple[date | None, date | None, dict[str, str]]:
    """The period asked for: a preset, or start and end dates (``YYYY-MM-DD``). Returns the
    dates and, for a date that is not one, the field's message."""
    if preset == "12m":
        return today - timedelta(days=365), today, {}
    if preset == "year":
        return date(today.year, 1, 1), today, {}
    if preset == "30d":
        return today - timedelta(days=30), today, {}
    if preset == "all":
        return None, None, {}
    problems: dict[str, str] = {}
    parsed: dict[str, date | None] = {}
    for name, text in (("start", start), ("until", until)):
        parsed[name] = None
        if text:
            try:
                parsed[name] = typed_day(text)
            except ValueError:
                problems[name] = _(N_("Enter a date."))
    first, last = parsed["start"], parsed["until"]
    if first and last and first > last:
        problems["start"] = _(N_("The start is after the end."))
    return first, last, problems


def resource_name(resource: str, short: bool = False) -> str:
    """A List of Waste code or a resource class, as a person reads it (``short``: the
    code's description up to its first comma, for a chart's label)."""
    entry = catalogue().get(resource)
    if entry is not None:
        text = entry.described(current_language())
        words = text.split(",")[0] if short else text
        return f"{spaced(resource)} {words}"
    return word(resource.removeprefix("class:"))


def volumes(months: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Tonnes and CO2e per month, for the chart."""
    rows = list(months)
    return {
        "labels": [r["month"] for r in rows],
        "tonnes": [float(r["tonnes"]) for r in rows],
        "co2e_t": [round(float(r["co2e_avoided_kg"]) / 1000, 3) for r in rows],
        "series": {"tonnes": _("Tonnes exchanged"), "co2e_t": _("CO2e avoided (t)")},
    }


def sankey(flows: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> dict[str, Any]:
    """Supplier → resource → receiver, weighted by quantity. Mixed units do not add up,
    so each resource node carries its unit and the weights are per unit."""
    links: dict[tuple[str, str], float] = {}
    labels: dict[str, str] = {}
    for flow in flows:
        supplier = f"s:{flow['source']}"
        receiver = f"r:{flow['target']}"
        resource = f"x:{flow['resource']}:{flow['unit']}"
        labels[supplier] = names.get(str(flow["source"]), _("another company"))
        labels[receiver] = names.get(str(flow["target"]), _("another company"))
        name = resource_name(str(flow["resource"]), short=True)
        labels[resource] = f"{name} ({word(flow['unit'])})"
        quantity = float(flow["quantity"])
        for pair in ((supplier, resource), (resource, receiver)):
            links[pair] = links.get(pair, 0.0) + quantity
    return {
        "links": [{"from": a, "to": b, "flow": round(q, 3)} for (a, b), q in links.items()],
        "labels": labels,
    }


def exchange_lines(
    flows: Iterable[Mapping[str, Any]], companies: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One line on the map per pair of companies that exchanged, thicker for more
    deliveries; pairs where either company has no place on the map are left out."""
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for flow in flows:
        source, target = str(flow["source"]), str(flow["target"])
        a, b = companies.get(source), companies.get(target)
        if not a or not b or "lat" not in a or "lat" not in b:
            continue
        line = pairs.setdefault(
            (source, target),
            {"from": [a["lat"], a["lon"]], "to": [b["lat"], b["lon"]], "deliveries": 0, "what": []},
        )
        line["deliveries"] += int(flow["deliveries"])
        line["what"].append(f"{resource_name(str(flow['resource']))}")
    for (source, target), line in pairs.items():
        line["weight"] = min(10, 2 + line["deliveries"])
        what = ", ".join(dict.fromkeys(line.pop("what")))
        line["label"] = f"{companies[source]['name']} → {companies[target]['name']}: {what}"
    return list(pairs.values())


def placed(companies: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each company with its position, when it has one near the park."""
    out: dict[str, dict[str, Any]] = {}
    for company in companies:
        entry: dict[str, Any] = {"id": str(company["id"]), "name": company["name"]}
        location = company.get("location") or {}
        lat, lon = location.get("latitude"), location.get("longitude")
        if lat is not None and lon is not None and plan.near_park(lat, lon):
            entry["lat"], entry["lon"] = lat, lon
            entry["plot"] = location.get("plot")
        out[entry["id"]] = entry
    return out


def company_markers(companies: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    return [
        plan.marker(c.get("lat"), c.get("lon"), str(c["name"]), kind="company")
        for c in companies.values()
    ]


async def all_companies(api: Api) -> list[dict[str, Any]]:
    companies: list[dict[str, Any]] = []
    while True:
        page = await api.get("listings", "/companies", limit=500, offset=len(companies))
        companies.extend(page)
        if len(page) < 500:
            return companies


async def csv_of(api: Api, table: str, query: Mapping[str, str]) -> str:
    """A statistics table as the contracts service writes it in CSV."""
    answer = await api.respond("GET", "contracts", f"/statistics/csv/{table}", params=query)
    return answer.text


def not_park_admin(request: Request[Any, Any, Any], _exc: NotParkAdmin) -> Response[Any]:
    errors = FormErrors(_(N_("Only the park's administrators see the park dashboard.")))
    return render(request, "error.html", status_code=403, errors=errors)


def _query(first: date | None, last: date | None) -> dict[str, str]:
    return {k: v.isoformat() for k, v in (("start", first), ("until", last)) if v is not None}


class DashboardController(Controller):
    path = "/dashboard"
    guards = [signed_in, park_admins_only]
    dependencies = DEPENDENCIES
    exception_handlers = {NotParkAdmin: not_park_admin}

    async def _page(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        preset: str | None,
        start: str | None,
        until: str | None,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        today = date.today()
        first, last, problems = period(preset, start, until, today)
        values = {"start": start or "", "until": until or "", "preset": preset or ""}
        if first or last:
            values |= {
                "start": first.isoformat() if first else "",
                "until": last.isoformat() if last else "",
            }
        if problems:
            errors = FormErrors(
                _(N_("Some of what you entered needs correcting; see the marked fields.")),
                problems,
            )
            status_code = 400
            first = last = None
        figures = await api.get("contracts", "/statistics", **_query(first, last))
        companies = placed(await all_companies(api))
        names = {cid: c["name"] for cid, c in companies.items()}
        plans = await api.get("matching", "/optimisations", limit=1)
        resources = figures["resources"]
        return render(
            request,
            "dashboard/dashboard.html",
            status_code=status_code,
            errors=errors,
            values=values,
            figures=figures,
            headline=figures["headline"],
            co2e_t=Decimal(str(figures["headline"]["co2e_avoided_kg"])) / 1000,
            first=first,
            last=last,
            query=_query(first, last),
            presets=PRESETS,
            objectives=OBJECTIVES,
            plan_statuses=PLAN_STATUSES,
            names=names,
            companies=companies,
            resource_name=resource_name,
            top_resources=resources[:TOP_RESOURCES],
            charts={
                "volumes": volumes(figures["months"]),
                "sankey": sankey(figures["flows"], names),
            },
            lines=exchange_lines(figures["flows"], companies),
            company_markers=company_markers(companies),
            latest_plan=plans[0] if plans else None,
            tables=TABLES,
        )

    @get("/", name="dashboard")
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        preset: str | None = None,
        start: str | None = None,
        until: str | None = None,
    ) -> Template:
        return await self._page(request, api, preset=preset, start=start, until=until)

    @get("/csv/{table:str}", name="dashboard-csv")
    async def csv(
        self,
        api: Api,
        table: str,
        start: str | None = None,
        until: str | None = None,
    ) -> Response[bytes]:
        """One table as CSV, for the period shown, straight from the statistics API."""
        if table not in TABLES:
            raise ApiProblem(404, "Not found")
        first, last, problems = period(None, start, until, date.today())
        if problems:
            raise ApiProblem(400, "Bad request", "the period is not valid")
        text = await csv_of(api, table, _query(first, last))
        suffix = "-".join(v for v in _query(first, last).values()) or "all"
        return Response(
            text.encode(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="viken-park-{table}-{suffix}.csv"'
            },
        )

    @post("/optimisations", name="dashboard-optimise")
    async def optimise(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        """Run the optimiser on today's open listings; the plan shows on the dashboard."""
        form = await form_of(request)
        body: dict[str, Any] = {
            "objective": form.get("objective") or "surplus",
            "time_limit_seconds": 20,
        }
        if form.get("carbon_price"):
            body["carbon_price_nok_per_t"] = machine_number(form["carbon_price"])
        try:
            await api.post("matching", "/optimisations", body)
        except ApiProblem as problem:
            if problem.status >= 500 or problem.status == 401:
                raise
            errors = explain(
                problem,
                {"objective": "objective", "carbon_price_nok_per_t": "carbon_price"},
                default_field="carbon_price",
            )
            return await self._page(
                request, api, preset=None, start=None, until=None, errors=errors, status_code=400
            )
        return see_other("/dashboard#optimiser")

    @post("/optimisations/{plan_id:uuid}/accept", name="dashboard-accept")
    async def accept(self, api: Api, plan_id: uuid.UUID) -> Redirect:
        """Publish the plan's exchanges as proposals (the matcher's earlier plans go)."""
        await api.post("matching", f"/optimisations/{plan_id}/accept")
        return see_other("/dashboard#optimiser")
