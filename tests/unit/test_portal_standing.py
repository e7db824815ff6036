"""The portal remembers a company's standing for a few seconds, not for the session: a
suspension shows on its people's pages soon after the park decides, and at once when the
decision is made on this portal's console. Companies' names are remembered for a minute."""

from __future__ import annotations

import httpx

from services.portal.client import Remembered, Services
from services.portal.standing import Standing, Standings
from services.portal.trades import company_names


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_standing_is_asked_again_when_it_is_old_or_forgotten() -> None:
    answers = [
        {"status": "verified", "status_reason": None},
        {"status": "suspended", "status_reason": "Ubetalt leie"},
        {"status": "verified", "status_reason": None},
    ]
    asked: list[str] = []

    def listings(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json=answers[len(asked) - 1])

    services = Services({"listings": "http://127.0.0.1:9"}, httpx.MockTransport(listings))
    api = services.as_person("token", "nb")
    clock = Clock()
    standings = Standings(fresh_seconds=5, clock=clock)
    try:
        assert await standings.of(api, "c1") == Standing("verified", "")
        clock.now += 4
        assert await standings.of(api, "c1") == Standing("verified", "")  # remembered
        assert asked == ["/api/listings/companies/me"]
        clock.now += 2
        suspended = await standings.of(api, "c1")
        assert suspended == Standing("suspended", "Ubetalt leie") and suspended.suspended
        standings.forget("c1")
        assert await standings.of(api, "c1") == Standing("verified", "")
        assert len(asked) == 3
    finally:
        await services.aclose()


async def test_a_page_is_shown_without_the_banner_when_the_listings_service_cannot_say() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"status": 503, "title": "Service unavailable"})

    services = Services({"listings": "http://127.0.0.1:9"}, httpx.MockTransport(down))
    try:
        assert await Standings().of(services.as_person("token", "en"), "c1") is None
    finally:
        await services.aclose()


async def test_a_page_naming_companies_asks_for_each_name_once_a_minute() -> None:
    """The search page names every company of fifty results: asked once, then remembered
    (a rename on the profile page forgets it at once)."""
    asked: list[str] = []

    def listings(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        company = request.url.path.split("/")[-2]
        return httpx.Response(200, json={"id": company, "name": f"Bedrift {company}"})

    services = Services({"listings": "http://127.0.0.1:9"}, httpx.MockTransport(listings))
    api = services.as_person("token", "nb")
    try:
        first = await company_names(api, {"a", "b"})
        again = await company_names(api, {"a", "b", "c"})
        assert first == {"a": "Bedrift a", "b": "Bedrift b"}
        assert again == first | {"c": "Bedrift c"}
        assert sorted(asked) == [f"/api/listings/companies/{c}/card" for c in "abc"]
        services.names.forget("a")
        await company_names(api, {"a"})
        assert len(asked) == 4
    finally:
        await services.aclose()


def test_what_is_remembered_is_forgotten_after_its_time() -> None:
    clock = Clock()
    names = Remembered(60, clock)
    names.put("a", "Sagbruk AS")
    clock.now += 59
    assert names.get("a") == "Sagbruk AS"
    clock.now += 1
    assert names.get("a") is None
