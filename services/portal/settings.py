"""The page every e-mail links to (``/settings``): which of the exchange's e-mails a person
gets, one by one or as a daily digest, and, for a company's administrators, the company's
defaults for people who have not chosen. Kept by the notifications service
(``/preferences/me``, ``/preferences/company``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from services.portal.client import Api, ApiProblem
from services.portal.i18n import N_, _
from services.portal.pages import DEPENDENCIES, form_of, render, see_other
from services.portal.problems import FormErrors, explain
from services.portal.session import SignedIn, signed_in

# The e-mails the exchange sends, in the order a trade meets them. A type the notifications
# service adds later is shown by its code until it is named here.
KINDS: dict[str, str] = {
    "trade.proposed": N_("A trade is proposed to you"),
    "trade.retracted": N_("A proposal is withdrawn"),
    "negotiation.countered": N_("The other company counters"),
    "negotiation.declined": N_("The other company declines"),
    "negotiation.reduced": N_("The exchange cuts a trade's terms"),
    "negotiation.withdrawn": N_("Another contract took what a listing had"),
    "negotiation.expired": N_("Nobody answered a trade in time"),
    "contract.agreed": N_("A contract is made"),
    "contract.cancelled": N_("A contract is cancelled"),
    "contract.completed": N_("A contract is completed"),
    "delivery.recorded": N_("A delivery is recorded"),
    "delivery.confirmed": N_("A delivery is confirmed"),
    "delivery.disputed": N_("A delivery is disputed"),
    "invoice.issued": N_("An invoice is issued"),
    "invoice.paid": N_("An invoice is paid"),
    "invoice.payment_failed": N_("A payment fails"),
    "invoice.voided": N_("An invoice is voided"),
    "credit_note.issued": N_("A credit note is issued"),
    "listing.expiring": N_("A listing is about to expire"),
}
SCOPES = ("me", "company")


def kinds_in_order(preferences: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Each event type with its words and whether it is e-mailed: the known ones in the
    order of a trade, then any the portal has no words for, by their code."""
    chosen: dict[str, bool] = preferences.get("email", {})
    known = [t for t in KINDS if t in chosen]
    other = sorted(t for t in chosen if t not in KINDS)
    return [(t, _(KINDS[t]) if t in KINDS else t, bool(chosen[t])) for t in known + other]


def change_from(form: dict[str, str], current: dict[str, bool], *, digest: bool) -> dict[str, Any]:
    """The API's change from the posted checkboxes (an unticked box is not posted): only
    the kinds whose box differs from what is in force, so that what a person leaves alone
    keeps following the company's default."""
    ticked = {kind: bool(form.get(f"email.{kind}")) for kind in current}
    body: dict[str, Any] = {"email": {k: on for k, on in ticked.items() if on != current[k]}}
    if digest:
        body["daily_digest"] = bool(form.get("daily_digest"))
    return body


class SettingsController(Controller):
    path = "/settings"
    guards = [signed_in]
    dependencies = DEPENDENCIES

    async def _page(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        *,
        status_code: int = 200,
        errors: FormErrors | None = None,
        saved: str | None = None,
    ) -> Template:
        mine = company = None
        if person.company_id:
            mine = await api.get("notifications", "/preferences/me")
            if person.is_company_admin:
                company = await api.get("notifications", "/preferences/company")
        return render(
            request,
            "account/settings.html",
            status_code=status_code,
            errors=errors,
            mine=mine,
            mine_kinds=kinds_in_order(mine or {}),
            company=company,
            company_kinds=kinds_in_order(company or {}),
            saved=saved,
        )

    @get("/", name="settings")
    async def show(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, saved: str = ""
    ) -> Template:
        return await self._page(request, api, person, saved=saved if saved in SCOPES else None)

    @post("/")
    async def save(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn
    ) -> Template | Redirect:
        form = await form_of(request)
        scope = form.get("scope", "me")
        if scope not in SCOPES or not person.company_id:
            errors = FormErrors(_(N_("Choose one of the options.")))
            return await self._page(request, api, person, status_code=400, errors=errors)
        current = await api.get("notifications", f"/preferences/{scope}")
        body = change_from(form, current.get("email", {}), digest=scope == "me")
        try:
            await api.put("notifications", f"/preferences/{scope}", body)
        except ApiProblem as problem:
            return await self._page(
                request, api, person, status_code=problem.status, errors=explain(problem)
            )
        return see_other(f"/settings?saved={scope}")
