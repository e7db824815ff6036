"""The park office's page of partners' Kafka credentials: issue one (its password shown
once, with everything the partner's client needs), see who has one, revoke it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from services.portal.client import Api, ApiProblem
from services.portal.dashboard import NotParkAdmin, not_park_admin, park_admins_only
from services.portal.i18n import N_, _
from services.portal.pages import DEPENDENCIES, form_of, render, see_other
from services.portal.problems import FormErrors, explain
from services.portal.session import signed_in

ISSUED_KEY = "issued_credential"


class PartnersController(Controller):
    path = "/partners"
    guards = [signed_in, park_admins_only]
    dependencies = DEPENDENCIES
    exception_handlers = {NotParkAdmin: not_park_admin}

    async def _page(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        status_code: int = 200,
        errors: FormErrors | None = None,
        values: dict[str, str] | None = None,
        issued: dict[str, Any] | None = None,
    ) -> Template:
        credentials = await api.get("listings", "/partner-credentials")
        return render(
            request,
            "partners/partners.html",
            status_code=status_code,
            errors=errors,
            values=values,
            credentials=credentials,
            issued=issued,
        )

    @get("/", name="partners")
    async def show(self, request: Request[Any, Any, Any], api: Api) -> Template:
        """The credentials; after issuing one, its password this once (kept in the
        encrypted session between the post and this page, then dropped)."""
        session = dict(request.session)
        issued = session.pop(ISSUED_KEY, None)
        if issued is not None:
            request.set_session(session)
        return await self._page(request, api, issued=issued)

    @post("/")
    async def issue(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        form = await form_of(request)
        label = form.get("label", "").strip()
        if not label:
            errors = FormErrors(
                _(N_("Say who the partner is.")), {"label": _(N_("This field is required."))}
            )
            return await self._page(request, api, status_code=400, errors=errors, values=form)
        try:
            issued = await api.post("listings", "/partner-credentials", {"label": label})
        except ApiProblem as problem:
            errors = explain(problem, {"label": "label"}, default_field="label")
            return await self._page(
                request, api, status_code=problem.status, errors=errors, values=form
            )
        # Post, then redirect: reloading the page must not issue a second credential.
        request.set_session({**request.session, ISSUED_KEY: issued})
        return see_other("/partners")

    @post("/{credential_id:uuid}/revoke")
    async def revoke(
        self, request: Request[Any, Any, Any], api: Api, credential_id: Any
    ) -> Template | Redirect:
        try:
            await api.delete("listings", f"/partner-credentials/{credential_id}")
        except ApiProblem as problem:
            return await self._page(
                request, api, status_code=problem.status, errors=explain(problem)
            )
        return see_other("/partners")
