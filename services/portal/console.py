"""The park office's console: the park's companies on the map, the optimiser's plans,
and the system's health (each service's checks and outbox backlog, its consumer groups'
lag) and the messages consumers dead-lettered, with their reason, each replayed after a
fix with one click. Everything through the services' APIs, with the park administrator's
token (shared/operations.py answers in every service)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.portal.client import Api, ApiProblem
from services.portal.dashboard import (
    OBJECTIVES,
    PLAN_STATUSES,
    NotParkAdmin,
    all_companies,
    company_markers,
    not_park_admin,
    park_admins_only,
    placed,
)
from services.portal.i18n import N_, _, ngettext
from services.portal.pages import DEPENDENCIES, form_of, render, see_other
from services.portal.problems import FormErrors, explain
from services.portal.session import signed_in

SERVICES = ("listings", "matching", "contracts", "notifications")
# The companies page: this many a page, those the office has to act on first.
COMPANIES_PAGE = 50
_STANDING_ORDER = {"registered": 0, "suspended": 1, "verified": 2}


def in_console_order(companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Waiting to be verified, then suspended, then verified; newest first in each (then by
    name, for companies registered in the same instant)."""
    by_name = sorted(companies, key=lambda c: str(c["name"]).casefold())
    newest = sorted(by_name, key=lambda c: str(c.get("created_at") or ""), reverse=True)
    return sorted(newest, key=lambda c: _STANDING_ORDER.get(c.get("status") or "registered", 3))


def page_holding(listed: list[dict[str, Any]], company_id: str) -> int:
    """The page of ``listed`` (50 a page) that holds the company; the first when it is not
    there."""
    at = next((i for i, c in enumerate(listed) if str(c["id"]) == company_id), 0)
    return at // COMPANIES_PAGE + 1


def matches(company: dict[str, Any], q: str) -> bool:
    """Whether a company is found by ``q``: a part of its name or of its organisation
    number (spaces ignored); everything when ``q`` is empty."""
    if not q:
        return True
    wanted = q.casefold()
    digits = wanted.replace(" ", "")
    return wanted in str(company["name"]).casefold() or (
        digits.isdigit() and digits in str(company.get("org_number") or "")
    )


# The services whose topic others consume, so that may hold dead letters.
PRODUCERS = ("listings", "matching", "contracts")
CHECKS: dict[str, str] = {
    "database": N_("Database"),
    "broker": N_("Event broker"),
    "consumers": N_("Consumers"),
    "outbox": N_("Outbox"),
    "workers": N_("Background work"),
}

# Why a consumer gave up on a message (shared/operations.py's ``cause``), for the park
# office; the service's own reason stays beside it as the technical detail, in English.
CAUSES: dict[str, str] = {
    "unreadable": N_("Not an event the exchange can read: not JSON, or without an event's fields"),
    "unknown_type": N_("An event type the exchange does not know"),
    "invalid_payload": N_("The event's content does not fit its type"),
    "handler_failed": N_("Processing it failed again and again"),
    "other": N_("Another failure: see the technical detail"),
}


def cause_words(letter: dict[str, Any]) -> str:
    """A dead letter's cause in the reader's language (with the tries, when counted)."""
    cause = str(letter.get("cause") or "other")
    attempts = letter.get("attempts")
    if cause == "handler_failed" and isinstance(attempts, int):
        return ngettext(
            "Processing it failed %(num)d time", "Processing it failed %(num)d times", attempts
        )
    return _(CAUSES.get(cause, CAUSES["other"]))


# A company's standing with the park office (services/listings/standing.py), in words.
STANDINGS: dict[str, str] = {
    "registered": N_("registered"),
    "verified": N_("verified"),
    "suspended": N_("suspended"),
}
STANDING_ACTIONS = ("verify", "suspend", "reinstate")
# The park's people page: its sort keys (the listings API's) and their column names.
PEOPLE_COLUMNS: dict[str, str] = {
    "name": N_("Name"),
    "email": N_("E-mail"),
    "company": N_("Company"),
    "role": N_("Role"),
    "last_sign_in": N_("Last sign-in"),
}
PEOPLE_PAGE = 50


async def _health(api: Api, service: str) -> dict[str, Any]:
    status, body = await api.peek(service, "/health")
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    outbox = checks.get("outbox", {}) if isinstance(checks, dict) else {}
    return {
        "service": service,
        "ok": status == 200,
        "reachable": body is not None,
        "checks": {k: bool(v.get("ok")) for k, v in checks.items() if isinstance(v, dict)},
        "unsent": outbox.get("unsent"),
        "oldest": outbox.get("oldest_unsent_seconds"),
    }


async def _or_nothing(api: Api, service: str, path: str) -> list[dict[str, Any]] | None:
    """The list the service answers, or None when it cannot answer now."""
    try:
        found: list[dict[str, Any]] = await api.get(service, path)
    except ApiProblem as problem:
        if problem.status in (401, 403):
            raise
        return None
    return found


class ConsoleController(Controller):
    path = "/console"
    guards = [signed_in, park_admins_only]
    dependencies = DEPENDENCIES
    exception_handlers = {NotParkAdmin: not_park_admin}

    async def _system(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        errors: FormErrors | None = None,
        replayed: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        # All at once: each service's answer waits on the broker.
        health, lags, letters = await asyncio.gather(
            asyncio.gather(*(_health(api, s) for s in SERVICES)),
            asyncio.gather(*(_or_nothing(api, s, "/operations/consumer-lag") for s in SERVICES)),
            asyncio.gather(*(_or_nothing(api, s, "/operations/dead-letters") for s in PRODUCERS)),
        )
        return render(
            request,
            "console/system.html",
            status_code=status_code,
            errors=errors,
            health=health,
            check_names={k: _(v) for k, v in CHECKS.items()},
            lags=dict(zip(SERVICES, lags, strict=True)),
            letters=dict(zip(PRODUCERS, letters, strict=True)),
            replayed=replayed,
            cause_words=cause_words,
        )

    async def _companies(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        page: int = 1,
        q: str = "",
        showing: str | None = None,
        errors: FormErrors | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        everyone = in_console_order(await all_companies(api))
        found = [c for c in everyone if matches(c, q)]
        if showing is not None:  # the page that holds this company
            page = page_holding(found, showing)
        pages = max(1, -(-len(found) // COMPANIES_PAGE))
        page = min(page, pages)
        shown = found[(page - 1) * COMPANIES_PAGE : page * COMPANIES_PAGE]
        return render(
            request,
            "console/companies.html",
            status_code=status_code,
            errors=errors,
            values=values,
            companies=shown,
            total=len(everyone),
            found=len(found),
            page=page,
            pages=pages,
            q=q,
            standings={k: _(v) for k, v in STANDINGS.items()},
            markers=company_markers(placed(shown)),
        )

    @get("/companies", name="console_companies")
    async def companies(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        q: Annotated[str, Parameter(max_length=200)] = "",
    ) -> Template:
        """The park's companies, those waiting to be verified first, then the suspended, then
        the verified, newest first in each, a page at a time; found by name or organisation
        number; where they are, their standing and their permit's state."""
        return await self._companies(request, api, page=page, q=q.strip())

    @post("/companies/{company_id:uuid}/{action:str}")
    async def change_standing(
        self, request: Request[Any, Any, Any], api: Api, company_id: Any, action: str
    ) -> Template | Redirect:
        """Verify, suspend (with the reason its people are shown) or reinstate a company."""
        if action not in STANDING_ACTIONS:
            return see_other("/console/companies")
        field = f"reason-{company_id}"
        form = await form_of(request)
        body: dict[str, Any] | None = None
        if action == "suspend":
            reason = form.get("reason", "").strip()
            values = {field: form.get("reason", "")}
            if not reason:
                errors = FormErrors(
                    _(N_("Say why the company is suspended: its people are shown the reason.")),
                    {field: _(N_("This field is required."))},
                )
                return await self._companies(
                    request,
                    api,
                    showing=str(company_id),
                    errors=errors,
                    values=values,
                    status_code=400,
                )
            body = {"reason": reason}
        try:
            await api.post("listings", f"/companies/{company_id}/{action}", body)
            request.app.state.standings.forget(str(company_id))
        except ApiProblem as problem:
            if problem.status == 401:
                raise
            errors = explain(problem, {"reason": field}, default_field=field)
            return await self._companies(
                request,
                api,
                showing=str(company_id),
                errors=errors,
                values={field: form.get("reason", "")},
                status_code=problem.status,
            )
        # back to the page that holds the company now, in the order the page lists them
        listed = in_console_order(await all_companies(api))
        page = page_holding(listed, str(company_id))
        return see_other(f"/console/companies?page={page}#company-{company_id}")

    @get("/people", name="console_people")
    async def people(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        sort: str = "name",
        order: str = "asc",
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        size: Annotated[int, Parameter(ge=5, le=500)] = PEOPLE_PAGE,
    ) -> Template:
        """Every person of every company, a page of ``size`` at a time, sorted by a
        column."""
        sort = sort if sort in PEOPLE_COLUMNS else "name"
        order = order if order in ("asc", "desc") else "asc"
        found = await api.get(
            "listings",
            "/people/park",
            sort=sort,
            order=order,
            limit=size,
            offset=(page - 1) * size,
        )
        total = int(found["total"])
        return render(
            request,
            "console/people.html",
            people=found["items"],
            total=total,
            page=page,
            pages=max(1, -(-total // size)),
            size=size,
            sort=sort,
            order=order,
            columns={k: _(v) for k, v in PEOPLE_COLUMNS.items()},
        )

    @get("/plans", name="console_plans")
    async def plans(self, request: Request[Any, Any, Any], api: Api) -> Template:
        """The optimiser's latest plans, newest first, each with its figures."""
        plans, companies = await asyncio.gather(
            api.get("matching", "/optimisations", limit=20), all_companies(api)
        )
        return render(
            request,
            "console/plans.html",
            plans=plans,
            names={str(c["id"]): c["name"] for c in companies},
            objectives=OBJECTIVES,
            plan_statuses=PLAN_STATUSES,
        )

    @get("/", name="console")
    async def home(self) -> Redirect:
        return Redirect(path="/console/system")

    @get("/system", name="console_system")
    async def system(self, request: Request[Any, Any, Any], api: Api) -> Template:
        return await self._system(request, api)

    @post("/system/dead-letters/{service:str}/{partition:int}/{offset:int}/replay")
    async def replay(
        self, request: Request[Any, Any, Any], api: Api, service: str, partition: int, offset: int
    ) -> Template | Redirect:
        """Send a dead-lettered message back to its topic, after a fix."""
        if service not in PRODUCERS:
            return see_other("/console/system")
        try:
            letter = await api.post(
                service, f"/operations/dead-letters/{partition}/{offset}/replay"
            )
        except ApiProblem as problem:
            if problem.status == 401:
                raise
            return await self._system(
                request, api, errors=explain(problem), status_code=problem.status
            )
        return await self._system(request, api, replayed=letter)
