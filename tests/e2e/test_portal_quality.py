"""Quality properties are chosen, not typed: in a real browser on the running services, a
bokmål-speaking company posts a need whose quality rows offer the properties the exchange
knows for the resource picked (in bokmål, each with its unit shown beside the value), sees
them with their units on the listing page and again on its edit form; a property sent
anyway that the resource does not have is refused by the listings service with a code, and
the portal says so in bokmål at that row. Without JavaScript the form offers every property
the exchange knows and works the same. Each page with script is checked by axe-core and
for English words, and every page is photographed into screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from services.portal.i18n import _, speaking
from tests.e2e.portal_checks import check_page
from tests.e2e.test_portal_browser import browser, context, shoot, sign_in
from tests.e2e.test_portal_map import company_on_the_map
from tests.support import Stack

pytestmark = pytest.mark.e2e
__all__ = ["browser"]


def bokmål(message: str, **variables: str) -> str:
    with speaking("nb"):
        return _(message, **variables)


async def new_need(page: Page, title: str) -> None:
    """The new-listing form as a need for solid biofuel, in tonnes, its text filled in."""
    await page.goto("/listings/new?kind=need")
    await expect(page.locator("html")).to_have_attribute("lang", "nb")
    await page.locator("#resource_class").select_option("solid_biofuel")
    await page.locator("#title").fill(title)
    await page.locator("#quantity").fill("200")
    await page.locator("#unit").select_option("t")


async def test_a_need_states_properties_chosen_for_its_resource_with_their_units(
    browser: Browser, stack: Stack
) -> None:
    company = await company_on_the_map(stack, "Kvalitetsvalg Varmeverk AS", "nb")
    made = await context(browser, stack, locale="nb-NO")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await new_need(page, "Flis til kjelen, tørr")
        # The rows follow the resource chosen: solid biofuel's properties, not heat's.
        first = page.locator("#quality_0_property")
        await expect(first.locator('option[value="lhv_mj_per_kg"]')).to_have_count(1)
        await expect(first.locator('option[value="temperature_c"]')).to_have_count(0)
        await expect(first.locator('option[value="moisture"]')).to_have_text("fuktighet (%)")
        await expect(page.get_by_label(bokmål("Property") + " 1")).to_be_visible()
        await first.select_option("moisture")
        await expect(page.locator("#quality_0_unit-shown")).to_have_text("%")
        await page.get_by_label(bokmål("At most") + " 1").fill("45")
        await page.locator("#quality_1_property").select_option("lhv_mj_per_kg")
        await expect(page.locator("#quality_1_unit-shown")).to_have_text("MJ/kg")
        await page.get_by_label(bokmål("At least") + " 2").fill("17,5")
        await check_page(page, "listing-quality-chosen-nb")

        # A property the resource does not have, sent anyway (a stale page, a hand-made
        # request): the listings service refuses it with a code, and the portal says so in
        # bokmål at that row, keeping what was chosen.
        await page.locator("#quality_2_property").evaluate(
            """select => select.add(new Option("temperature", "temperature_c", true, true))"""
        )
        await page.locator("#quality_2_value").fill("40")
        await page.get_by_role("button", name=bokmål("Create the listing")).click()
        refused = page.locator("#quality_2_property-error")
        await expect(refused).to_have_text(
            bokmål(
                "The exchange knows no %(property)s for this resource: choose one of the "
                "properties in the list.",
                property="turtemperatur",
            )
        )
        await expect(page.locator("#quality_2_property")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#quality_0_property")).to_have_value("moisture")
        await expect(page.locator("#quality_1_unit-shown")).to_have_text("MJ/kg")
        await check_page(page, "listing-quality-refused-nb")
        await page.locator("#quality_2_property").select_option("")
        await page.locator("#quality_2_value").fill("")
        await page.get_by_role("button", name=bokmål("Create the listing")).click()

        # The listing page names the properties in bokmål, each with its unit.
        await expect(page).to_have_url(re.compile(r"/listings/[0-9a-f-]{36}$"))
        quality = page.locator("dl.facts ul.plain")
        await expect(quality.locator("li")).to_have_count(2)
        await expect(quality.locator("li").nth(0)).to_have_text(
            re.compile(r"^fuktighet:\s+høyst 45\s+%$")
        )
        await expect(quality.locator("li").nth(1)).to_have_text(
            re.compile(r"^nedre brennverdi:\s+minst 17,5\s+MJ/kg$")
        )
        await check_page(page, "listing-quality-shown-nb")

        # Its edit form has them chosen, with their units beside the values.
        await page.get_by_role("link", name=bokmål("Edit"), exact=True).click()
        await expect(page.locator("#quality_0_property")).to_have_value("moisture")
        await expect(page.locator("#quality_0_unit-shown")).to_have_text("%")
        await expect(page.locator("#quality_1_property")).to_have_value("lhv_mj_per_kg")
        await expect(page.locator("#quality_1_min")).to_have_value("17,5")
        await check_page(page, "listing-quality-edit-nb")
    finally:
        await made.close()


async def test_without_javascript_every_known_property_is_offered(
    browser: Browser, stack: Stack
) -> None:
    company = await company_on_the_map(stack, "Kvalitetsvalg Uten Skript AS", "nb")
    made = await browser.new_context(base_url=stack.url, locale="nb-NO", java_script_enabled=False)
    made.set_default_timeout(20_000)
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await new_need(page, "Flis uten skript")
        first = page.locator("#quality_0_property")
        # nothing follows the resource without script: the server offers every property
        for known in ("moisture", "lhv_mj_per_kg", "temperature_c", "cadmium"):
            await expect(first.locator(f'option[value="{known}"]')).to_have_count(1)
        await expect(first.locator('option[value="cadmium"]')).to_have_text(
            "kadmium (av tørrstoff) (mg/kg)"
        )
        await first.select_option("moisture")
        await page.get_by_label(bokmål("At most") + " 1").fill("40")
        # (axe-core and the language check run scripts in the page: they check this same
        # form with script above; here it is photographed only)
        await shoot(page, "listing-quality-no-script-nb")
        await page.get_by_role("button", name=bokmål("Create the listing")).click()
        await expect(page).to_have_url(re.compile(r"/listings/[0-9a-f-]{36}$"))
        await expect(page.locator("dl.facts ul.plain li")).to_have_text(
            re.compile(r"^fuktighet:\s+høyst 40\s+%$")
        )
    finally:
        await made.close()
