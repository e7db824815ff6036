"""The park administrator's uncovering page: latent synergies between companies that have
listed nothing yet, and the park's open loops with the kinds of company that would close
them (the list the park's developer recruits tenants from)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from services.portal.client import Api
from services.portal.dashboard import NotParkAdmin, not_park_admin, park_admins_only
from services.portal.pages import DEPENDENCIES, render
from services.portal.session import signed_in
from shared.knowledge import use_names


class UncoveringController(Controller):
    path = "/uncovering"
    guards = [signed_in, park_admins_only]
    dependencies = DEPENDENCIES
    exception_handlers = {NotParkAdmin: not_park_admin}

    @get("/", name="uncovering")
    async def page(self, request: Request[Any, Any, Any], api: Api) -> Template:
        synergies = await api.get("listings", "/park/latent-synergies", limit=50)
        loops = await api.get("listings", "/park/open-loops")
        return render(
            request,
            "dashboard/uncovering.html",
            synergies=synergies,
            loops=loops,
            uses=use_names(),
        )
