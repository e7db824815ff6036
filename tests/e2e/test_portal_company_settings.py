"""The company's own settings in a real browser on the running services, in both languages:
its administrator edits the public profile (name, NACE codes picked from the list by words,
address, a click on the map for its site, coordinates written with the page's decimal sign
and read in either form) and is refused at the field for what is wrong, with nothing
changed, and the page header names the company by its new name at once; chooses
what it shares with the park's partners; and withdraws an open invitation, after which the
e-mailed link no longer works. Every page is checked by axe-core and for words of the other
language, and photographed into screenshots/."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from services.portal.i18n import _, speaking
from shared.knowledge import activity_name
from tests.conftest import MailDrop
from tests.e2e.portal_checks import check_page
from tests.e2e.test_portal_browser import PASSWORD, browser, context, sign_in
from tests.e2e.test_portal_map import SITE, company_on_the_map
from tests.support import Stack, eventually

pytestmark = pytest.mark.e2e
__all__ = ["browser"]


# A coordinate as each language writes it in a field: 59,2134 or 59.2134.
NUMBER = {"nb": re.compile(r"^\d+,\d+$"), "en": re.compile(r"^\d+\.\d+$")}


def decimal(language: str, value: float) -> str:
    return str(value).replace(".", ",") if language == "nb" else str(value)


def said(language: str, message: str, **variables: Any) -> str:
    with speaking("nb" if language == "nb" else "en"):
        return _(message, **variables)


async def the_company(stack: Stack, company: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        answer = await client.get(
            "/api/listings/companies/me",
            headers={"Authorization": f"Bearer {company['api_key']}"},
        )
    assert answer.status_code == 200, answer.text
    me: dict[str, Any] = answer.json()
    return me


async def open_settings(page: Page, language: str, which: str) -> None:
    """From the menu's settings to one of the company's settings pages."""
    await page.get_by_role("link", name=said(language, "Settings"), exact=True).click()
    await page.locator("nav.subnav").get_by_role("link", name=said(language, which)).click()


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_an_administrator_edits_the_company_profile_refused_at_the_field(
    browser: Browser, stack: Stack, language: str
) -> None:
    company = await company_on_the_map(stack, f"Profilsag {language.upper()} AS", language)
    made = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await open_settings(page, language, "Company profile")
        await expect(page).to_have_url(re.compile(r"/settings/profile$"))
        await expect(page.locator("html")).to_have_attribute("lang", language)
        await expect(page.locator("#name")).to_have_value(company["name"])
        await expect(page.locator("#nace_codes")).to_have_value("16.11")
        await expect(page.locator("#plot")).to_have_value("B2")
        # Coordinates are written as the page's language writes numbers.
        await expect(page.locator("#latitude")).to_have_value(decimal(language, SITE[0]))
        await expect(page.locator("#longitude")).to_have_value(decimal(language, SITE[1]))
        await expect(page.locator("#nace-chosen")).to_contain_text("16.11")
        await expect(page.locator("[data-map] figcaption")).to_have_text(
            said(
                language,
                "Click the map to place the company, or type its latitude and longitude below.",
            )
        )
        await check_page(page, f"settings-profile-{language}")

        # A NACE code not in the list and a postcode of two digits: the listings service
        # refuses both, each said at its field; nothing is changed.
        before = await the_company(stack, company)
        await page.locator("#nace_codes").fill("16.11, 99.99")
        await page.locator("#postcode").fill("16")
        await page.get_by_role("button", name=said(language, "Save the profile")).click()
        await expect(page.locator("#nace_codes")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#nace_codes-error")).to_have_text(
            said(language, "%(value)s is not in the NACE list.", value="99.99")
        )
        await expect(page.locator("#nace_codes")).to_have_value("16.11, 99.99")
        await check_page(page, f"settings-profile-refused-{language}")
        await page.locator("#nace_codes").fill("16.11")
        await page.get_by_role("button", name=said(language, "Save the profile")).click()
        await expect(page.locator("#postcode")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#postcode-error")).not_to_be_empty()
        # The portal's own check: a latitude that is not a number, said before asking.
        await page.locator("#postcode").fill("1617")
        await page.locator("#latitude").fill("nord")
        await page.get_by_role("button", name=said(language, "Save the profile")).click()
        await expect(page.locator("#latitude-error")).to_have_text(
            said(language, "Enter a latitude between -90 and 90, or click the plan.")
        )
        assert await the_company(stack, company) == before

        # Right this time: a new name, a code picked from the NACE list by words of its
        # name, and a click on the map moves the site.
        renamed = f"Profilteglverk {language.upper()} {uuid.uuid4().hex[:4]} AS"
        await page.locator("#name").fill(renamed)
        await page.locator("#nace_codes").fill("16.11")
        picker = page.locator("#nace-picker")
        await expect(picker).to_be_visible()
        await picker.get_by_label(said(language, "Find an activity in the NACE list")).fill(
            "murstein brent leire" if language == "nb" else "bricks baked clay"
        )
        choice = page.locator('#nace-results button[data-nace="23.32"]')
        # named in the page's language (the bokmål is the team's translation of the list)
        await expect(choice).to_contain_text(activity_name("23.32", language))
        await check_page(page, f"settings-profile-nace-picker-{language}")
        await choice.click()
        await expect(page.locator("#nace_codes")).to_have_value("16.11, 23.32")
        await expect(page.locator("#nace-chosen")).to_contain_text("23.32")
        await expect(page.locator("#nace-results button")).to_have_count(0)
        await page.locator("#plot").fill("C3")
        await expect(page.locator("[data-map]")).to_have_attribute("data-ready", "1")
        await page.locator(".map-canvas").click(position={"x": 320, "y": 320})
        await expect(page.locator("#latitude")).to_have_value(NUMBER[language])
        await expect(page.locator("#longitude")).to_have_value(NUMBER[language])
        # The other decimal sign is read too.
        clicked = await page.locator("#longitude").input_value()
        other = clicked.replace(",", ".") if language == "nb" else clicked.replace(".", ",")
        await page.locator("#longitude").fill(other)
        await page.get_by_role("button", name=said(language, "Save the profile")).click()
        await expect(page).to_have_url(re.compile(r"/settings/profile\?saved=1$"))
        await expect(page.get_by_role("status")).to_have_text(
            said(language, "The company profile is saved.")
        )
        await expect(page.locator("#name")).to_have_value(renamed)
        # the header names the company by its new name at once, on every page, without
        # signing in again
        await expect(page.locator("header .who")).to_contain_text(renamed)
        await check_page(page, f"settings-profile-saved-{language}")
        after = await the_company(stack, company)
        assert after["name"] == renamed
        assert after["nace_codes"] == ["16.11", "23.32"]
        assert after["location"]["plot"] == "C3"
        moved = (after["location"]["latitude"], after["location"]["longitude"])
        assert moved != (before["location"]["latitude"], before["location"]["longitude"])
        assert after["location"]["longitude"] == float(clicked.replace(",", "."))
        await expect(page.locator("#longitude")).to_have_value(clicked)
        assert after["address"] == before["address"]
        await page.get_by_role("link", name=said(language, "Our listings")).click()
        await expect(page.locator("header .who")).to_contain_text(renamed)
    finally:
        await made.close()


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_an_administrator_chooses_what_partners_see(
    browser: Browser, stack: Stack, language: str
) -> None:
    company = await company_on_the_map(stack, f"Delesag {language.upper()} AS", language)
    assert (await the_company(stack, company))["share_terms_with_partners"] is False
    made = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await open_settings(page, language, "Sharing with partners")
        await expect(page).to_have_url(re.compile(r"/settings/sharing$"))
        box = page.get_by_label(
            said(language, "Share the prices and terms of our listings and contracts with partners")
        )
        await expect(box).not_to_be_checked()
        await expect(page.locator("#sharing-now")).to_have_text(
            said(language, "Now: the company keeps its prices and terms to itself.")
        )
        await check_page(page, f"settings-sharing-{language}")

        await box.check()
        await page.get_by_role("button", name=said(language, "Save what we share")).click()
        await expect(page.get_by_role("status")).to_have_text(
            said(language, "What the company shares is saved.")
        )
        await expect(box).to_be_checked()
        await expect(page.locator("#sharing-now")).to_have_text(
            said(language, "Now: the company shares its prices and terms with partners.")
        )
        await check_page(page, f"settings-sharing-saved-{language}")
        assert (await the_company(stack, company))["share_terms_with_partners"] is True

        await box.uncheck()
        await page.get_by_role("button", name=said(language, "Save what we share")).click()
        await expect(box).not_to_be_checked()
        assert (await the_company(stack, company))["share_terms_with_partners"] is False
    finally:
        await made.close()


async def invitation_links(drop: MailDrop, address: str, count: int) -> list[str]:
    """The links (paths) of the first ``count`` invitations e-mailed to ``address``."""

    async def arrived() -> list[str] | None:
        found = [
            match.group(1)
            for mail in drop.to(address)
            if (match := re.search(r"https?://[^/\s]+(/join\?token=\S+)", mail.get_content()))
        ]
        return found[:count] if len(found) >= count else None

    links: list[str] = await eventually(arrived, timeout=60)
    return links


async def refused_at_join(page: Page, link: str) -> None:
    """The invitation link is refused, at its field, in bokmål."""
    await page.goto(link)
    await page.get_by_label(said("nb", "Choose a password")).fill(PASSWORD)
    await page.get_by_label(said("nb", "The password again")).fill(PASSWORD)
    await page.get_by_role("button", name=said("nb", "Join")).click()
    await expect(page.locator("#token-error")).to_have_text(
        said("nb", "This invitation is unknown, used or expired; ask your administrator again.")
    )


async def test_an_administrator_sends_an_invitation_again_then_withdraws_it(
    browser: Browser, stack: Stack, mail_drop: tuple[MailDrop, int]
) -> None:
    company = await company_on_the_map(stack, "Tilbaketrekk AS", "nb")
    invited = f"ola-{uuid.uuid4().hex[:8]}@tilbaketrekk.example"
    made = await context(browser, stack, locale="nb-NO")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await page.goto("/company")
        invite = page.locator('form[action="/company/people"]')
        await invite.get_by_label(said("nb", "Name")).fill("Ola Nordmann")
        await invite.get_by_label(said("nb", "E-mail address")).fill(invited)
        await invite.get_by_role("button", name=said("nb", "Invite")).click()
        await expect(page.get_by_role("status")).to_contain_text(invited)
        row = page.locator("tr", has_text=invited)
        await expect(row).to_contain_text(said("nb", "invited"))
        await check_page(page, "company-invited-nb")
        (first,) = await invitation_links(mail_drop[0], invited, 1)

        # Sent again: a new e-mail with a new link; the first link stops working.
        again = re.compile(said("nb", "Send the invitation again"))
        await row.get_by_role("button", name=again).click()
        await expect(page.get_by_role("status")).to_contain_text(invited)
        _, second = await invitation_links(mail_drop[0], invited, 2)
        assert second != first
        await refused_at_join(page, first)

        # Withdrawn: the second link stops working too.
        await page.goto("/company")
        withdraw = re.compile(said("nb", "Withdraw the invitation"))
        await row.get_by_role("button", name=withdraw).click()
        await expect(row).to_contain_text(said("nb", "disabled"))
        await expect(row.get_by_role("button")).to_have_count(0)
        await check_page(page, "company-invitation-withdrawn-nb")

        await refused_at_join(page, second)
    finally:
        await made.close()
