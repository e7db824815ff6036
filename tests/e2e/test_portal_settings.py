"""The page every e-mail links to, in a real browser on the running services: a company's
administrator chooses which e-mails they get (and a daily digest) and the company's
defaults, in either language; the choices are kept by the notifications service and shown
again. Every page is checked by axe-core and for words of the other language, and
photographed into screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from services.notifications.email import SETTINGS_PATH
from services.portal.i18n import _, speaking
from tests.e2e.portal_checks import check_page
from tests.e2e.test_portal_browser import browser, company_with_admin, context, sign_in
from tests.support import Stack

pytestmark = pytest.mark.e2e
__all__ = ["browser"]


def said(language: str, message: str, **variables: Any) -> str:
    with speaking("nb" if language == "nb" else "en"):
        return _(message, **variables)


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_an_administrator_chooses_the_emails_from_the_page_they_link_to(
    browser: Browser, stack: Stack, language: str
) -> None:
    company = await company_with_admin(stack, f"Innstilling {language.upper()} AS", language)
    made = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await page.get_by_role("link", name=said(language, "Settings"), exact=True).click()
        await expect(page).to_have_url(re.compile(re.escape(SETTINGS_PATH) + "$"))
        mine = page.locator("#mine")
        proposed = mine.get_by_label(said(language, "A trade is proposed to you"))
        digest = mine.get_by_label(
            said(language, "One e-mail a day (at 07:00) instead of one per event")
        )
        await expect(proposed).to_be_checked()
        await expect(digest).not_to_be_checked()
        await expect(page.locator("main")).to_contain_text(company["email"])
        await check_page(page, f"settings-{language}")

        await proposed.uncheck()
        await digest.check()
        await mine.get_by_role("button", name=said(language, "Save my choices")).click()
        await expect(page.get_by_role("status")).to_contain_text(
            said(language, "Your choices are saved.")
        )
        await page.reload()
        await expect(proposed).not_to_be_checked()
        await expect(digest).to_be_checked()
        await expect(mine.get_by_label(said(language, "An invoice is issued"))).to_be_checked()

        defaults = page.locator("#company")
        voided = defaults.get_by_label(said(language, "An invoice is voided"))
        await voided.uncheck()
        await defaults.get_by_role(
            "button", name=said(language, "Save the company's defaults")
        ).click()
        await expect(page.get_by_role("status")).to_contain_text(
            said(language, "The company's defaults are saved.")
        )
        await expect(voided).not_to_be_checked()
        # The person's own choice is theirs; the default reaches what they have not chosen.
        await expect(mine.get_by_label(said(language, "An invoice is voided"))).not_to_be_checked()
        await expect(proposed).not_to_be_checked()
        await check_page(page, f"settings-saved-{language}")
    finally:
        await made.close()
