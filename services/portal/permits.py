"""The park administrators' review of companies' permits for hazardous waste: each permit
waiting to be verified, checked against the issuing authority's register and verified or
rejected with a reason."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from services.portal.client import Api, ApiProblem
from services.portal.dashboard import NotParkAdmin, not_park_admin, park_admins_only
from services.portal.i18n import N_, _
from services.portal.pages import DEPENDENCIES, form_of, render, see_other
from services.portal.problems import FormErrors, explain
from services.portal.session import signed_in


class PermitsController(Controller):
    path = "/permits"
    guards = [signed_in, park_admins_only]
    dependencies = DEPENDENCIES
    exception_handlers = {NotParkAdmin: not_park_admin}

    async def _page(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        waiting = await api.get("listings", "/permits", status="stated")
        companies = {
            str(c["id"]): c["name"] for c in await api.get("listings", "/companies", limit=500)
        }
        return render(
            request,
            "permits/review.html",
            status_code=status_code,
            errors=errors,
            permits=[
                {**p, "company_name": companies.get(str(p["company_id"]), "")} for p in waiting
            ],
        )

    @get("/", name="permits")
    async def review(self, request: Request[Any, Any, Any], api: Api) -> Template:
        return await self._page(request, api)

    @post("/{company_id:uuid}/{decision:str}")
    async def decide(
        self, request: Request[Any, Any, Any], api: Api, company_id: Any, decision: str
    ) -> Template | Redirect:
        """Verify or reject one company's permit (the form names its number)."""
        if decision not in ("verify", "reject"):
            raise NotFoundException()
        form = await form_of(request)
        body = {"number": form.get("number", ""), "reason": form.get("reason", "").strip() or None}
        if decision == "reject" and not body["reason"]:
            errors = FormErrors(
                _(N_("Say why the permit is not accepted; the company is shown the reason.")),
                {f"reason-{company_id}": _(N_("This field is required."))},
            )
            return await self._page(request, api, errors=errors, status_code=400)
        try:
            await api.post("listings", f"/companies/{company_id}/permit/{decision}", body)
        except ApiProblem as problem:
            return await self._page(
                request, api, errors=explain(problem), status_code=problem.status
            )
        return see_other("/permits")
