"""The company's own settings beside the e-mails: its public profile (name, NACE codes,
address, its place in the park, the permits it declared) and what it shares with the park's
partners. Everyone of the company reads them; its administrators change them (the listings
service's ``PATCH /companies/me``, which tells partners of a change on company.changed)."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from services.portal.client import Api
from services.portal.forms import PROFILE_FIELDS, profile_body
from services.portal.pages import DEPENDENCIES, form_of, render, submit
from services.portal.problems import FormErrors
from services.portal.session import signed_in

SAVED = "1"


def profile_values(company: dict[str, Any]) -> dict[str, str]:
    """The form filled in with the company as it is."""
    address = company.get("address") or {}
    location = company.get("location") or {}
    latitude, longitude = location.get("latitude"), location.get("longitude")
    return {
        "name": company.get("name") or "",
        "nace_codes": ", ".join(company.get("nace_codes") or []),
        "street": address.get("street") or "",
        "postcode": address.get("postcode") or "",
        "city": address.get("city") or "",
        "plot": location.get("plot") or "",
        "latitude": "" if latitude is None else str(latitude),
        "longitude": "" if longitude is None else str(longitude),
    }


PROFILE, SHARING = "account/profile.html", "account/sharing.html"


class CompanySettingsController(Controller):
    """``/settings/profile`` and ``/settings/sharing``: pages of the company's settings."""

    path = "/settings"
    guards = [signed_in]
    dependencies = DEPENDENCIES

    async def _page(
        self,
        template: str,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        status_code: int = 200,
        errors: FormErrors | None = None,
        values: dict[str, str] | None = None,
        saved: bool = False,
    ) -> Template:
        """A settings page of the company, its form filled from the company unless the
        values a refused form sent are given."""
        company = await api.get("listings", "/companies/me")
        return render(
            request,
            template,
            status_code=status_code,
            errors=errors,
            values=values if values is not None else profile_values(company),
            company=company,
            saved=saved,
        )

    @get("/profile", name="company_profile")
    async def profile(self, request: Request[Any, Any, Any], api: Api, saved: str = "") -> Template:
        return await self._page(PROFILE, request, api, saved=saved == SAVED)

    @post("/profile")
    async def change_profile(
        self, request: Request[Any, Any, Any], api: Api
    ) -> Template | Redirect:
        """A company administrator changes the profile; a field the portal or the
        listings service refuses is marked, and nothing is changed."""
        form = await form_of(request)

        async def send() -> None:
            changed = await api.patch("listings", "/companies/me", profile_body(form))
            api.services.names.forget(str(changed.get("id")))
            request.app.state.standings.forget(str(changed.get("id")))  # the header's name

        return await submit(
            send,
            form,
            partial(self._page, PROFILE, request, api),
            f"/settings/profile?saved={SAVED}",
            fields=PROFILE_FIELDS,
            default_field="name",
        )

    @get("/sharing", name="partner_sharing")
    async def sharing(self, request: Request[Any, Any, Any], api: Api, saved: str = "") -> Template:
        return await self._page(SHARING, request, api, saved=saved == SAVED)

    @post("/sharing")
    async def change_sharing(
        self, request: Request[Any, Any, Any], api: Api
    ) -> Template | Redirect:
        """Share the prices and terms of the company's trades with partners, or stop."""
        form = await form_of(request)
        body = {"share_terms_with_partners": form.get("share_terms_with_partners") == "1"}
        return await submit(
            partial(api.patch, "listings", "/companies/me", body),
            form,
            partial(self._page, SHARING, request, api),
            f"/settings/sharing?saved={SAVED}",
            keep_values=False,
        )
