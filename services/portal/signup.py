"""A company signs itself up: organisation number, NACE codes, address, its place in the
park and its first administrator; the administrator confirms the e-mail address with the
link the exchange e-mails, is signed in, and lands on the listings the exchange suggests for
the company's activities."""

from __future__ import annotations

import contextlib
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Response, Template

from services.portal.account import start_session
from services.portal.client import Api, ApiProblem, Services
from services.portal.forms import Form, signup_body
from services.portal.i18n import N_, _, current_language
from services.portal.nace import find_activities
from services.portal.pages import DEPENDENCIES, form_of, render
from services.portal.problems import FormErrors, explain
from services.portal.session import signed_in

# The registration's fields and the form's, for marking the field a service refused.
SIGNUP_FIELDS = {
    "name": "name",
    "org_number": "org_number",
    "nace_codes": "nace_codes",
    "address": "street",
    "address.street": "street",
    "address.postcode": "postcode",
    "address.city": "city",
    "location": "latitude",
    "location.plot": "plot",
    "location.latitude": "latitude",
    "location.longitude": "longitude",
    "admin": "email",
    "admin.name": "admin_name",
    "admin.email": "email",
    "admin.password": "password",
}


class SignUpController(Controller):
    """Open to everyone: the sign-up form and the confirmation of the e-mail address."""

    dependencies = DEPENDENCIES

    def _form(
        self,
        request: Request[Any, Any, Any],
        *,
        values: Form | None = None,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        return render(
            request,
            "account/sign_up.html",
            status_code=status_code,
            errors=errors,
            values=dict(values or {"language": current_language()}),
        )

    @get("/sign-up", name="sign_up")
    async def sign_up_form(self, request: Request[Any, Any, Any]) -> Template:
        return self._form(request)

    @post("/sign-up")
    async def sign_up(self, request: Request[Any, Any, Any], services: Services) -> Template:
        form = await form_of(request)
        values = {k: v for k, v in form.items() if k not in ("password", "again")}
        try:
            body = signup_body(form)
            await services.as_person(None, current_language()).post("listings", "/companies", body)
        except FormErrors as refused:
            return self._form(request, values=values, errors=refused, status_code=400)
        except ApiProblem as problem:
            errors = explain(problem, SIGNUP_FIELDS, default_field="org_number")
            return self._form(request, values=values, errors=errors, status_code=problem.status)
        return render(request, "account/sign_up_sent.html", email=body["admin"]["email"])

    @get("/confirm", name="confirm")
    async def confirm_form(self, request: Request[Any, Any, Any], token: str = "") -> Template:
        """The page the e-mailed link opens: one button confirms (a link alone changes
        nothing, so a mail program that opens links to check them confirms nothing)."""
        return render(request, "account/confirm.html", values={"token": token.strip()})

    @get("/nace-codes", name="nace_codes")
    async def nace_codes(self, request: Request[Any, Any, Any], q: str = "") -> Template:
        """The NACE picker's choices for what has been typed so far (an htmx fragment)."""
        return render(
            request,
            "account/nace_codes.html",
            activities=find_activities(q, current_language()),
            query=q.strip(),
        )

    @post("/confirm")
    async def confirm(
        self, request: Request[Any, Any, Any], services: Services
    ) -> Template | Response[Any]:
        form = await form_of(request)
        token = form.get("token", "").strip()
        anonymous = services.as_person(None, current_language())
        try:
            if not token:
                raise ApiProblem(400, "Bad", errors=[{"field": "token", "code": "value.missing"}])
            answer = await anonymous.post("listings", "/people/confirm-email", {"token": token})
        except ApiProblem as problem:
            errors = explain(problem, {"token": "token"}, default_field="token")
            if problem.status == 400:
                errors.fields["token"] = _(
                    N_("This link is unknown, used or expired. Sign in, or sign up again.")
                )
            return render(
                request,
                "account/confirm.html",
                status_code=problem.status,
                errors=errors,
                values={"token": token},
            )
        return await start_session(request, services, answer, "", "/suggestions")


class SuggestionsController(Controller):
    """What companies of the company's activities often have and need: each a draft in one
    click (the page a company lands on when it has signed up)."""

    path = "/suggestions"
    guards = [signed_in]
    dependencies = DEPENDENCIES

    @get("/", name="suggestions")
    async def suggestions(self, request: Request[Any, Any, Any], api: Api) -> Template:
        found: list[dict[str, Any]] = []
        with contextlib.suppress(ApiProblem):
            found = await api.get("listings", "/companies/me/suggestions")
        return render(request, "account/suggestions.html", suggestions=found)
