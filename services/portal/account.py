"""Signing in and out, the language, and the company's own page (colleagues, API keys)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from functools import partial
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Template

from services.portal.client import Api, ApiProblem, Services
from services.portal.config import PortalSettings
from services.portal.forms import day as typed_day
from services.portal.i18n import (
    LANGUAGES,
    N_,
    _,
    as_language,
    current_language,
    ngettext,
    use_language,
)
from services.portal.pages import (
    DEPENDENCIES,
    form_of,
    local_path,
    render,
    see_other,
    submit,
)
from services.portal.problems import FormErrors, explain
from services.portal.session import (
    SESSION_KEY,
    SignedIn,
    person_of,
    served_over_https,
    signed_in,
)
from shared.logs import client_address

LANGUAGE_COOKIE = "lang"
ONE_YEAR = 365 * 24 * 3600
PARK_ADMIN_HOME = "/dashboard"
COMPANY_HOME = "/listings"

_WRONG_PASSWORD = N_("The e-mail address or the password is not right.")


def home_of(person: SignedIn) -> str:
    return PARK_ADMIN_HOME if person.is_park_admin else COMPANY_HOME


async def start_session(
    request: Request[Any, Any, Any],
    services: Services,
    token: dict[str, Any],
    email: str,
    next_path: str,
) -> Response[Any]:
    """Keep the person's access token in the session; on to ``next_path`` (or home)."""
    person = SignedIn(
        token=token["access_token"],
        expires_at=time.time() + int(token["expires_in"]),
        person_id=str(token["person_id"]),
        company_id=str(token["company_id"]) if token.get("company_id") else None,
        role=str(token["role"]),
        email=email,
    )
    api = services.as_person(person.token, current_language(), client_address(request.scope))
    language = await describe(api, person)
    request.set_session({SESSION_KEY: person.model_dump()})
    response: Response[Any] = see_other(next_path or home_of(person))
    if language and not request.cookies.get(LANGUAGE_COOKIE):
        _set_language_cookie(request, response, language)
    return response


async def describe(api: Api, person: SignedIn) -> str | None:
    """Fill in the person's name and company (and e-mail); their preferred language."""
    language = None
    with contextlib.suppress(ApiProblem):  # a park administrator has no colleagues
        for colleague in await api.get("listings", "/people"):
            if str(colleague["id"]) == person.person_id:
                person.name = colleague["name"]
                person.email = colleague["email"]
                language = colleague.get("language")
    if person.company_id:
        with contextlib.suppress(ApiProblem):
            person.company_name = (await api.get("listings", "/companies/me"))["name"]
    return language


class AccountController(Controller):
    """Sign in, sign out and the language: open to everyone."""

    dependencies = DEPENDENCIES

    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        person = person_of(request)
        return Redirect(path=home_of(person) if person else "/sign-in")

    @get("/sign-in", name="sign_in")
    async def sign_in_form(
        self, request: Request[Any, Any, Any], next: str | None = None
    ) -> Template:
        return render(request, "account/sign_in.html", next=local_path(next, ""))

    @post("/sign-in")
    async def sign_in(
        self, request: Request[Any, Any, Any], services: Services
    ) -> Template | Response[Any]:
        form = await form_of(request)
        email, password = form.get("email", "").strip(), form.get("password", "")
        next_path = local_path(form.get("next"), "")
        missing = {
            name: _(N_("This field is required."))
            for name, value in (("email", email), ("password", password))
            if not value
        }
        if missing:
            errors = FormErrors(_(N_("Fill in your e-mail address and password.")), missing)
            return self._again(request, errors, email, next_path)
        client = client_address(request.scope)
        anonymous = services.as_person(None, current_language(), client)
        try:
            token = await anonymous.post(
                "listings", "/auth/token", {"email": email, "password": password}
            )
        except ApiProblem as problem:
            if problem.code == "person.email_unconfirmed":
                unconfirmed = _(N_("Confirm your e-mail address first: open the link we sent you."))
                errors = FormErrors(unconfirmed, {"email": unconfirmed})
            elif problem.status in (400, 401, 403):
                errors = FormErrors(_(_WRONG_PASSWORD), {"password": _(_WRONG_PASSWORD)})
            elif problem.status == 429:
                minutes = max(1, -(-problem.retry_after // 60))
                message = ngettext(
                    "Too many failed attempts. Wait %(num)s minute and try again.",
                    "Too many failed attempts. Wait %(num)s minutes and try again.",
                    minutes,
                )
                errors = FormErrors(message, {"password": message})
            else:
                errors = explain(problem)
            return self._again(request, errors, email, next_path)
        return await start_session(request, services, token, email, next_path)

    @staticmethod
    def _again(
        request: Request[Any, Any, Any], errors: FormErrors, email: str, next_path: str
    ) -> Template:
        return render(
            request,
            "account/sign_in.html",
            status_code=400,
            errors=errors,
            values={"email": email},
            next=next_path,
        )

    @get("/join", name="join")
    async def join_form(self, request: Request[Any, Any, Any], token: str = "") -> Template:
        """The page an invited colleague opens from the link their administrator sent."""
        return render(request, "account/join.html", values={"token": token.strip()})

    @post("/join")
    async def join(self, request: Request[Any, Any, Any], services: Services) -> Template:
        """Choose a password with the invitation; then the sign-in page, e-mail filled in."""
        form = await form_of(request)
        token, password = form.get("token", "").strip(), form.get("password", "")
        problems = {
            name: _(N_("This field is required."))
            for name, value in (("token", token), ("password", password))
            if not value
        }
        if password and form.get("again", "") != password:
            problems["again"] = _(N_("The two passwords are not the same."))
        if problems:
            errors = FormErrors(
                _(N_("Some of what you entered needs correcting; see the marked fields.")),
                problems,
            )
            return self._join_again(request, errors, token)
        anonymous = services.as_person(None, current_language())
        try:
            person = await anonymous.post(
                "listings", "/people/accept-invitation", {"token": token, "password": password}
            )
        except ApiProblem as problem:
            errors = explain(problem, {"token": "token", "password": "password"})
            if any(e.get("field") == "token" for e in problem.errors):
                errors.fields["token"] = _(
                    N_("This invitation is unknown, used or expired; ask your administrator again.")
                )
            return self._join_again(request, errors, token)
        return render(
            request,
            "account/sign_in.html",
            values={"email": person["email"]},
            next="",
            notice=_(N_("Your password is set. Sign in to start.")),
        )

    @staticmethod
    def _join_again(request: Request[Any, Any, Any], errors: FormErrors, token: str) -> Template:
        return render(
            request, "account/join.html", status_code=400, errors=errors, values={"token": token}
        )

    @post("/sign-out")
    async def sign_out(self, request: Request[Any, Any, Any], api: Api) -> Redirect:
        """Sign out here and at the services: the session's token is ended everywhere, so
        a copy of the session cookie is worth nothing afterwards."""
        if person_of(request) is not None:
            with contextlib.suppress(ApiProblem):  # an ended or expired token: nothing to end
                await api.post("listings", "/auth/sign-out")
        request.clear_session()
        return see_other("/sign-in")

    @post("/language")
    async def language(self, request: Request[Any, Any, Any], api: Api) -> Response[Any]:
        """Switch the language; kept in a cookie, and on the person when signed in."""
        form = await form_of(request)
        chosen = as_language(form.get("language")) or current_language()
        use_language(chosen)
        if person_of(request) is not None:
            with contextlib.suppress(ApiProblem):  # the cookie is enough for the portal
                await api.patch("listings", "/people/me", {"language": chosen})
        response: Response[Any] = see_other(local_path(form.get("next"), "/"))
        _set_language_cookie(request, response, chosen)
        return response


def _set_language_cookie(
    request: Request[Any, Any, Any], response: Response[Any], language: str
) -> None:
    if language in LANGUAGES:
        settings: PortalSettings = request.app.state.settings
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=ONE_YEAR,
            httponly=True,
            samesite="lax",
            secure=served_over_https(settings),
        )


NEW_KEY = "new_api_key"  # the session key of a new API key, shown once
INVITED = "invited"  # the session key of who was just invited, said once


async def answer_or(call: Awaitable[Any], default: Any) -> Any:
    """The service's answer, or ``default`` when it refuses (what the person may not see)."""
    try:
        return await call
    except ApiProblem:
        return default


class CompanyController(Controller):
    """The company's page: its profile, its people and its API keys."""

    path = "/company"
    guards = [signed_in]
    dependencies = DEPENDENCIES

    async def _page(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        status_code: int = 200,
        errors: FormErrors | None = None,
        values: dict[str, str] | None = None,
        **extra: Any,
    ) -> Template:
        # Asked for at once, not one after the other (the page's slowest at the demo's size).
        company, people, keys, suggestions = await asyncio.gather(
            api.get("listings", "/companies/me"),
            answer_or(api.get("listings", "/people"), []),
            # only a company admin sees the keys
            answer_or(api.get("listings", "/api-keys"), None),
            answer_or(api.get("listings", "/companies/me/suggestions"), []),
        )
        return render(
            request,
            "account/company.html",
            status_code=status_code,
            errors=errors,
            values=values,
            company=company,
            people=people,
            keys=keys,
            suggestions=suggestions,
            **extra,
        )

    @get("/", name="company")
    async def show(self, request: Request[Any, Any, Any], api: Api) -> Template:
        """The company; after a key is created, its secret this once (kept in the encrypted
        session between the post and this page, then dropped)."""
        session = dict(request.session)
        new_key = session.pop(NEW_KEY, None)
        invited = session.pop(INVITED, None)
        if new_key is not None or invited is not None:
            request.set_session(session)
        return await self._page(request, api, new_key=new_key, invited=invited)

    @post("/invoicing")
    async def invoicing(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        """What invoices need of the company (company admins): address, MVA registration,
        the account it is paid to, the language of its papers."""
        form = await form_of(request)
        body: dict[str, Any] = {
            "vat_registered": form.get("vat_registered") == "1",
            "bank_account": form.get("bank_account", "").replace(" ", "").replace(".", "") or None,
            "language": "en" if form.get("document_language") == "en" else "nb",
        }
        address = {k: form.get(k, "").strip() for k in ("street", "postcode", "city")}
        if any(address.values()):
            body["address"] = address
        fields = {
            "bank_account": "bank_account",
            "address": "street",
            "street": "street",
            "postcode": "postcode",
            "city": "city",
        }
        return await submit(
            partial(api.patch, "listings", "/companies/me", body),
            form,
            partial(self._page, request, api),
            "/company",
            fields=fields,
            default_field="bank_account",
        )

    @post("/suggestions")
    async def draft(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        """A suggestion from the company's NACE codes becomes a draft listing in one click;
        the person lands on its edit page to fill in the quantity and quality."""
        form = await form_of(request)
        body = {
            "kind": form.get("kind", ""),
            "nace": form.get("nace", ""),
            "resource": form.get("resource") or None,
            "use": form.get("use") or None,
            "language": current_language(),
        }
        try:
            created = await api.post("listings", "/companies/me/suggestions/draft", body)
        except ApiProblem as problem:
            return await self._page(
                request, api, status_code=problem.status, errors=explain(problem)
            )
        return see_other(f"/listings/{created['id']}/edit")

    @post("/api-keys")
    async def create_key(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        form = await form_of(request)
        label = form.get("label", "").strip()
        if not label:
            errors = FormErrors(
                _(N_("Give the key a name.")), {"label": _(N_("This field is required."))}
            )
            return await self._page(request, api, status_code=400, errors=errors)
        try:
            created = await api.post("listings", "/api-keys", {"label": label})
        except ApiProblem as problem:
            errors = explain(problem, {"label": "label"}, default_field="label")
            return await self._page(
                request, api, status_code=problem.status, errors=errors, values=form
            )
        # Post, then redirect: reloading the page must not create a second key.
        request.set_session(
            {**request.session, NEW_KEY: {"label": created["label"], "api_key": created["api_key"]}}
        )
        return see_other("/company")

    @post("/api-keys/{key_id:uuid}/revoke")
    async def revoke_key(
        self, request: Request[Any, Any, Any], api: Api, key_id: Any
    ) -> Template | Redirect:
        try:
            await api.delete("listings", f"/api-keys/{key_id}")
        except ApiProblem as problem:
            return await self._page(
                request, api, status_code=problem.status, errors=explain(problem)
            )
        return see_other("/company")

    @post("/permit")
    async def state_permit(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        """State the company's permit for hazardous waste; the park verifies it."""
        form = await form_of(request)
        body = {
            "number": form.get("number", "").strip(),
            "authority": form.get("authority", "").strip(),
            "valid_until": form.get("valid_until", "").strip(),
            "waste_codes": [c.strip() for c in form.get("waste_codes", "").split(",") if c.strip()],
        }
        fields = {name: name for name in ("number", "authority", "valid_until", "waste_codes")}
        missing = {name: _(N_("This field is required.")) for name in fields if not body[name]}
        if missing:
            errors = FormErrors(
                _(N_("Some of what you entered needs correcting; see the marked fields.")),
                missing,
            )
            return await self._page(request, api, status_code=400, errors=errors, values=form)
        try:  # typed as the page's language writes a date (31.12.2026); the API takes ISO
            body["valid_until"] = typed_day(str(body["valid_until"])).isoformat()
        except ValueError:
            errors = FormErrors(
                _(N_("Some of what you entered needs correcting; see the marked fields.")),
                {"valid_until": _(N_("Enter a date as day, month and year."))},
            )
            return await self._page(request, api, status_code=400, errors=errors, values=form)
        try:
            await api.put("listings", "/companies/me/permit", body)
        except ApiProblem as problem:
            errors = explain(problem, fields, default_field="number")
            return await self._page(
                request, api, status_code=problem.status, errors=errors, values=form
            )
        return see_other("/company")

    @post("/people")
    async def invite(self, request: Request[Any, Any, Any], api: Api) -> Template | Redirect:
        form = await form_of(request)
        body = {
            "name": form.get("name", "").strip(),
            "email": form.get("email", "").strip(),
            "role": form.get("role", "member"),
            "language": as_language(form.get("language")) or current_language(),
        }
        try:
            invited = await api.post("listings", "/people", body)
        except ApiProblem as problem:
            errors = explain(
                problem, {"name": "name", "email": "email", "role": "role"}, default_field="email"
            )
            return await self._page(
                request, api, status_code=problem.status, errors=errors, values=form
            )
        # The link goes by e-mail only (the listings service has the notifications service
        # send it): the page says who was invited, never the link.
        person = invited["person"]
        request.set_session(
            {**request.session, INVITED: {"name": person["name"], "email": person["email"]}}
        )
        return see_other("/company#colleagues")

    @post("/people/{person_id:uuid}/resend")
    async def resend(
        self, request: Request[Any, Any, Any], api: Api, person_id: Any
    ) -> Template | Redirect:
        """E-mail an open invitation again, with a new link (the old one stops working)."""
        try:
            renewed = await api.post("listings", f"/people/{person_id}/invitation")
        except ApiProblem as problem:
            return await self._page(
                request, api, status_code=problem.status, errors=explain(problem)
            )
        person = renewed["person"]
        request.set_session(
            {**request.session, INVITED: {"name": person["name"], "email": person["email"]}}
        )
        return see_other("/company#colleagues")

    @post("/people/{person_id:uuid}/withdraw")
    async def withdraw(
        self, request: Request[Any, Any, Any], api: Api, person_id: Any
    ) -> Template | Redirect:
        """Withdraw an open invitation: the e-mailed link no longer works."""
        try:
            await api.delete("listings", f"/people/{person_id}")
        except ApiProblem as problem:
            return await self._page(
                request, api, status_code=problem.status, errors=explain(problem)
            )
        return see_other("/company#colleagues")
