"""The park on a real map, in a real browser on the running services: every request off
127.0.0.0/8 is refused in the browser (the map's tiles among them), so the map falls back
to the park plan; a click on the map places a new listing, a later click moves it (the
listings API's location change), and a search by distance from the company's site finds
it, drawn on the map with the site. Each page is checked with axe-core and for words of
the other language, and photographed into screenshots/."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from services.portal.plan import distance_km
from tests.e2e.portal_checks import check_page
from tests.e2e.test_portal_browser import (
    BLOCKED,
    PASSWORD,
    browser,
    company_with_admin,
    context,
    create_listing,
    sign_in,
)
from tests.support import Stack, bank_account, org_number

pytestmark = pytest.mark.e2e

__all__ = ["browser"]
SITE = (59.2490, 11.0330)


async def company_on_the_map(stack: Stack, name: str, language: str) -> dict[str, Any]:
    """A company whose site has a position in the park, with its first administrator."""
    email = f"map-{uuid.uuid4().hex[:8]}@{name.split()[0].lower()}.example"
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        response = await client.post(
            "/api/listings/companies/",
            json={
                "name": name,
                "org_number": org_number(),
                "nace_codes": ["16.11"],
                "address": {"street": "Tofteberg 5", "postcode": "1617", "city": "Fredrikstad"},
                "location": {"plot": "B2", "latitude": SITE[0], "longitude": SITE[1]},
                "bank_account": bank_account(),
                "admin": {
                    "name": f"Admin of {name}",
                    "email": email,
                    "password": PASSWORD,
                    "language": language,
                },
            },
        )
    assert response.status_code == 201, response.text
    return {"name": name, "email": email, **response.json()}


async def shown_on_the_plan(page: Page) -> None:
    """The map is drawn, its tiles were asked for and refused, and the plan shows instead."""
    figure = page.locator("[data-map]")
    await expect(figure).to_have_attribute("data-ready", "1")
    await expect(figure).to_have_attribute("data-basemap", "plan")
    await expect(figure.locator(".leaflet-overlay-pane svg .zone")).to_have_count(5)
    await expect(figure.locator(".leaflet-tile-loaded")).to_have_count(0)


async def position(page: Page) -> tuple[float, float]:
    latitude = await page.locator("#latitude").input_value()
    longitude = await page.locator("#longitude").input_value()
    return float(latitude.replace(",", ".")), float(longitude.replace(",", "."))


async def test_a_listing_is_placed_moved_and_found_by_distance_on_the_map(
    browser: Browser, stack: Stack
) -> None:
    company = await company_on_the_map(stack, "Kartsag AS", "en")
    made = await context(browser, stack)
    try:
        page = await made.new_page()
        await sign_in(page, company)
        title = f"Bark from the saw line {uuid.uuid4().hex[:4]}"
        await create_listing(page, "offer", title, "12", "80", (200, 160), "map-listing-new")
        tiles = [u for u in BLOCKED[id(made)] if u.startswith("https://tile.openstreetmap.org/")]
        assert tiles, "the map asked for no tiles"
        assert all(re.match(r"https?://(127\.|\[?::1|localhost)", u) is None for u in tiles)
        await shown_on_the_plan(page)
        await expect(page.locator("[data-map] path.here")).to_have_count(1)
        await check_page(page, "map-listing-placed")
        listing_url = page.url

        # Moved later, with another click.
        await page.get_by_role("link", name="Edit").click()
        await shown_on_the_plan(page)
        await expect(page.locator("[data-map] path.chosen")).to_have_count(1)
        before = await position(page)
        await page.locator(".map-canvas").click(position={"x": 420, "y": 330})
        await expect(page.locator("#latitude")).not_to_have_value(str(before[0]))
        moved = await position(page)
        assert moved != before
        await check_page(page, "map-listing-edit")
        await page.get_by_role("button", name="Save changes").click()
        await expect(page).to_have_url(listing_url)
        await expect(page.locator("main")).to_contain_text(str(moved[0]))
        await shown_on_the_plan(page)

        # Found by its distance from the company's site, drawn with the site on the map.
        away = distance_km(SITE, moved)
        await page.goto(f"/search?q={title.split()[-1]}&within_km={away + 0.05:.2f}")
        await shown_on_the_plan(page)
        await expect(page.locator("table.listings")).to_contain_text(title)
        await expect(page.locator("[data-map] path.result")).to_have_count(1)
        await expect(page.locator("[data-map] path.home")).to_have_count(1)
        await check_page(page, "map-search-near")
        # The distance typed with a decimal comma, as a bokmål reader writes it, is read too.
        comma = f"{away + 0.05:.2f}".replace(".", ",")
        await page.goto(f"/search?q={title.split()[-1]}&within_km={comma}")
        await expect(page.locator("table.listings")).to_contain_text(title)
        await expect(page.locator("#within_km")).to_have_value(comma)
        if away > 0.1:
            await page.goto(f"/search?q={title.split()[-1]}&within_km={away - 0.05:.2f}")
            await expect(page.locator("table.listings")).not_to_contain_text(title)
            await expect(page.locator("[data-map] path.result")).to_have_count(0)
    finally:
        await made.close()


async def test_the_map_in_bokmal_falls_back_to_the_plan_and_places_a_need(
    browser: Browser, stack: Stack
) -> None:
    company = await company_on_the_map(stack, "Kartbruk AS", "nb")
    made = await context(browser, stack, locale="nb-NO")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await page.goto("/search?within_km=2")
        await shown_on_the_plan(page)
        await expect(page.locator("[data-map] path.home")).to_have_count(1)
        await check_page(page, "map-search-nb")
        await page.goto("/listings/new?kind=need")
        await shown_on_the_plan(page)
        await page.locator(".map-canvas").click(position={"x": 250, "y": 250})
        await expect(page.locator("#latitude")).not_to_have_value("")
        await check_page(page, "map-listing-new-nb")
    finally:
        await made.close()


async def test_a_distance_without_a_site_is_refused_at_the_field(
    browser: Browser, stack: Stack
) -> None:
    company = await company_with_admin(stack, "Tomtløs AS", language="nb")
    made = await context(browser, stack, locale="nb-NO")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        answer = await page.goto("/search?within_km=2")
        assert answer is not None and answer.status == 400
        await expect(page.locator("#within_km-error")).to_have_text(
            "Bedriftens tomt har ingen posisjon: plasser den på bedriftssiden først."
        )
        await expect(page.locator("#within_km")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("[data-map] path.home")).to_have_count(0)
        await check_page(page, "map-search-no-site-nb")
    finally:
        await made.close()


async def test_a_name_on_the_map_is_shown_as_text_never_as_markup(
    browser: Browser, stack: Stack
) -> None:
    """What people wrote (here a listing's title with HTML in it) is a tooltip's text: the
    map never reads it as markup."""
    company = await company_on_the_map(stack, "Kartmerke AS", "en")
    made = await context(browser, stack)
    try:
        page = await made.new_page()
        await sign_in(page, company)
        tag = uuid.uuid4().hex[:6]
        title = f"<b>Bark</b> {tag}"
        await create_listing(page, "offer", title, "12", "80", (200, 160), "map-markup-listing")
        await page.goto(f"/search?q={tag}&within_km=20")
        await shown_on_the_plan(page)
        await page.locator("[data-map] path.result").hover()
        tooltip = page.locator(".leaflet-tooltip")
        await expect(tooltip).to_contain_text(title)
        await expect(tooltip.locator("b")).to_have_count(0)
    finally:
        await made.close()
