"""The park administrators' audit log: who did what, when and from where (sign-ins and
failed sign-ins, keys, people, permits), newest first, from listings' `/audit-log/`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from services.portal.client import Api
from services.portal.dashboard import NotParkAdmin, not_park_admin, park_admins_only
from services.portal.i18n import N_, _
from services.portal.pages import DEPENDENCIES, render
from services.portal.session import signed_in

ACTIONS: dict[str, str] = {
    "sign_in": N_("Signed in"),
    "sign_in.failed": N_("Sign-in failed"),
    "sign_out": N_("Signed out"),
    "company.registered": N_("Company registered"),
    "company.updated": N_("Company profile changed"),
    "person.invited": N_("Colleague invited"),
    "person.joined": N_("Colleague joined"),
    "person.disabled": N_("Person disabled"),
    "api_key.created": N_("API key made"),
    "api_key.revoked": N_("API key revoked"),
    "partner_key.created": N_("Partner key made"),
    "partner_key.revoked": N_("Partner key revoked"),
    "partner_credential.issued": N_("Partner credential issued"),
    "partner_credential.revoked": N_("Partner credential revoked"),
    "permit.stated": N_("Permit stated"),
    "permit.verified": N_("Permit verified"),
    "permit.rejected": N_("Permit rejected"),
    "company.verified": N_("Company verified"),
    "company.suspended": N_("Company suspended"),
    "company.reinstated": N_("Company reinstated"),
}
REASONS: dict[str, str] = {
    "wrong password": N_("wrong password"),
    "no such account": N_("no such account"),
    "disabled": N_("the person is disabled"),
}
ACTORS: dict[str, str] = {"person": N_("person"), "api_key": N_("API key")}
PAGE = 100


def action_name(action: str) -> str:
    return _(ACTIONS[action]) if action in ACTIONS else action


class AuditController(Controller):
    path = "/audit"
    guards = [signed_in, park_admins_only]
    dependencies = DEPENDENCIES
    exception_handlers = {NotParkAdmin: not_park_admin}

    @get("/", name="audit")
    async def log(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        action: str | None = None,
        before: str | None = None,
    ) -> Template:
        """The newest entries (or those of one action), a page at a time."""
        chosen = action if action in ACTIONS else None
        page = await api.respond(
            "GET",
            "listings",
            "/audit-log",
            params={
                "limit": PAGE,
                "action": chosen,
                "before": before if before and before.isdigit() else None,
            },
        )
        companies = {
            str(c["id"]): c["name"] for c in await api.get("listings", "/companies", limit=500)
        }
        entries = [
            {
                **entry,
                "action_name": action_name(entry["action"]),
                "company_name": companies.get(str(entry.get("company_id")), ""),
                "actor_name": _(ACTORS[entry["actor_kind"]]) if entry.get("actor_kind") else "",
                "reason": _(REASONS[r]) if (r := entry["details"].get("reason")) in REASONS else "",
            }
            for entry in page.json()
        ]
        return render(
            request,
            "audit/log.html",
            entries=entries,
            actions={key: _(name) for key, name in ACTIONS.items()},
            chosen=chosen or "",
            older=page.headers.get("X-Next-Cursor"),
        )
