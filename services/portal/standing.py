"""Whether the park office has suspended the signed-in person's company, and why: every
page of a suspended company's people says so (services/listings/standing.py has the rules).
The same answer carries the company's name, which the page header shows: a company renamed
is shown by its new name without signing in again.

The portal asks the listings service (``GET /companies/me``) at most once every
``FRESH_SECONDS`` per company, not on every page; a suspension, reinstatement or rename made
on this portal is seen at once, one made elsewhere within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request

from services.portal.client import Api, ApiProblem
from services.portal.pages import provide_api
from services.portal.session import SESSION_KEY, person_of

FRESH_SECONDS = 5.0
STATE_KEY = "standing"


@dataclass(frozen=True)
class Standing:
    """A company's standing as its people are shown it."""

    status: str
    reason: str
    company_name: str = ""

    @property
    def suspended(self) -> bool:
        return self.status == "suspended"


class Standings:
    """Each company's standing, remembered for ``FRESH_SECONDS``."""

    def __init__(
        self, fresh_seconds: float = FRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fresh = fresh_seconds
        self._clock = clock
        self._known: dict[str, tuple[float, Standing]] = {}

    async def of(self, api: Api, company_id: str) -> Standing | None:
        """The company's standing; None when the listings service cannot say (the page is
        shown without the banner rather than not at all)."""
        now = self._clock()
        known = self._known.get(company_id)
        if known is not None and now < known[0]:
            return known[1]
        try:
            company = await api.get("listings", "/companies/me")
        except ApiProblem:
            return None
        standing = Standing(
            status=str(company.get("status") or ""),
            reason=str(company.get("status_reason") or ""),
            company_name=str(company.get("name") or ""),
        )
        self._known[company_id] = (now + self._fresh, standing)
        return standing

    def forget(self, company_id: str) -> None:
        """The park changed the company's standing, or the company its name: ask again on
        its next page."""
        self._known.pop(company_id, None)


# Requests that are no page of the person's own: files, the live stream, probes.
_NOT_PAGES = ("/static/", "/inbox/stream", "/health", "/metrics", "/favicon.ico")


async def look_up_standing(request: Request[Any, Any, Any]) -> None:
    """Before a page of a company's person: their company's standing, for the banner
    (``request.state.standing``), and its name as it is now, for the header. An htmx
    fragment has no banner and skips it."""
    person = person_of(request)
    if person is None or not person.company_id:
        return
    path = request.url.path
    if request.headers.get("hx-request") == "true" or path.startswith(_NOT_PAGES):
        return
    standings: Standings = request.app.state.standings
    standing = await standings.of(provide_api(request, request.app.state), person.company_id)
    request.state[STATE_KEY] = standing
    if standing is not None and standing.company_name not in ("", person.company_name):
        # renamed since the person signed in: the header (and the session) take the new name
        renamed = person.model_copy(update={"company_name": standing.company_name})
        request.set_session({**request.session, SESSION_KEY: renamed.model_dump()})
