"""A company signs itself up in the portal (a real browser on the running services, in
bokmål): organisation number, NACE code, address, a click on the park plan, its first
administrator; the confirmation link comes by e-mail (read from the stack's mail server);
the administrator confirms, lands on the listings suggested for its activity, makes one a
draft, publishes it, and reaches its first proposal. Every page is checked by axe-core and
for English words, and photographed into screenshots/.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from services.portal.i18n import _, speaking
from tests.conftest import MailDrop
from tests.e2e.portal_checks import check_page
from tests.e2e.test_portal_browser import LIVE, PASSWORD, browser, company_with_admin, context
from tests.support import Stack, eventually, org_number

pytestmark = pytest.mark.e2e
__all__ = ["browser"]


def nb(message: str, **variables: Any) -> str:
    """The portal's words in bokmål, from its catalogue."""
    with speaking("nb"):
        return _(message, **variables)


async def confirmation_link(drop: MailDrop, address: str) -> str:
    async def arrived() -> str | None:
        for mail in drop.to(address):
            found = re.search(r"https?://\S+/confirm\?token=\S+", mail.get_content())
            if found and "Bekreft" in str(mail["Subject"]):
                return found.group(0)
        return None

    link: str = await eventually(arrived, timeout=60)
    return link


async def test_a_company_signs_itself_up_and_reaches_its_first_proposal(
    browser: Browser, stack: Stack, mail_drop: tuple[MailDrop, Any]
) -> None:
    # A boiler in the park already needs sawdust (03 01 05), which sawmills typically have.
    boiler = await company_with_admin(stack, "Selvbetjent Kjelhus AS", language="nb")
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        need = await client.post(
            "/api/listings/listings/",
            headers={"Authorization": f"Bearer {boiler['api_key']}"},
            json={
                "kind": "need",
                "ewc_code": "030105",
                "title": f"Sagflis til kjelen {uuid.uuid4().hex[:6]}",
                "quantity": "40",
                "unit": "t",
                "price_per_unit_ore": 20000,
                "location": {"plot": "C2", "latitude": 59.2470, "longitude": 11.0330},
            },
        )
        assert need.status_code == 201, need.text

    email = f"kari-{uuid.uuid4().hex[:8]}@selvbetjent-sag.example"
    made = await context(browser, stack, locale="nb-NO")
    try:
        page = await made.new_page()
        await page.goto("/sign-in")
        await expect(page.locator("html")).to_have_attribute("lang", "nb")
        await page.get_by_role("link", name=nb("Sign up your company")).click()
        await expect(page).to_have_url(re.compile(r"/sign-up$"))
        # The map places the company, not a listing.
        await expect(page.locator("[data-map] figcaption")).to_have_text(
            nb("Click the map to place the company, or type its latitude and longitude below.")
        )
        await check_page(page, "sign-up-empty")

        # A wrong organisation number is refused at its field, in bokmål, before anything
        # is registered.
        await fill_sign_up(page, email, org="123456789")
        await page.get_by_role("button", name=nb("Sign up"), exact=True).click()
        await expect(page.locator("#org_number")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#org_number-error")).to_have_text(
            nb("This is not a valid organisation number (nine digits, the last a check digit).")
        )
        await expect(page.locator("#name")).to_have_value("Selvbetjent Sag AS")
        await check_page(page, "sign-up-refused")

        await fill_sign_up(page, email, org=org_number())
        await page.get_by_role("button", name=nb("Sign up"), exact=True).click()
        await expect(page.locator("h1")).to_have_text(nb("Check your e-mail"))
        await expect(page.locator("main")).to_contain_text(email)
        await check_page(page, "sign-up-sent")

        # Not confirmed yet: signing in is refused with what to do.
        await page.goto("/sign-in")
        await page.locator("#email").fill(email)
        await page.locator("#password").fill(PASSWORD)
        await page.get_by_role("button", name=nb("Sign in"), exact=True).click()
        await expect(page.locator("#email-error")).to_have_text(
            nb("Confirm your e-mail address first: open the link we sent you.")
        )

        link = await confirmation_link(mail_drop[0], email)
        await page.goto("/confirm" + link.split("/confirm", 1)[1])
        await check_page(page, "sign-up-confirm")
        await page.get_by_role("button", name=nb("Confirm and sign in")).click()
        await expect(page).to_have_url(re.compile(r"/suggestions$"))
        await expect(page.locator("header")).to_contain_text("Selvbetjent Sag AS")
        await check_page(page, "suggestions-after-sign-up")

        # Sawdust, as sawmills have: a draft in one click, then quantity and price.
        row = page.locator("tr", has=page.locator("text=03 01 05"))
        await row.get_by_role("button", name=nb("Make a draft")).first.click()
        await expect(page).to_have_url(re.compile(r"/listings/[0-9a-f-]{36}/edit$"))
        await page.locator("#quantity").fill("60")
        await page.locator("#price").fill("150")
        await check_page(page, "sign-up-draft-edit")
        await page.get_by_role("button", name=nb("Save changes")).click()
        await expect(page).to_have_url(re.compile(r"/listings/[0-9a-f-]{36}$"))
        title = await page.locator("h1").inner_text()
        await page.get_by_role("button", name=nb("Publish"), exact=True).click()
        await expect(page.locator(".lead")).to_contain_text(nb("open"))
        await check_page(page, "sign-up-listing-published")

        # The exchange proposes the trade with the boiler.
        await page.goto("/proposals")
        trade = page.locator("#trade-list a", has_text=title)
        await expect(trade.first).to_be_visible(timeout=LIVE)
        await check_page(page, "sign-up-first-proposal")
        await trade.first.click()
        await expect(page.locator("main")).to_contain_text(boiler["name"])
        await check_page(page, "sign-up-first-negotiation")
    finally:
        await made.close()


async def fill_sign_up(page: Page, email: str, org: str) -> None:
    await page.locator("#name").fill("Selvbetjent Sag AS")
    await page.locator("#org_number").fill(org)
    # The activity picked from the NACE list by its code's beginning.
    await page.locator("#nace-search").fill("16.1")
    await page.locator('#nace-results button[data-nace="16.11"]').click()
    await expect(page.locator("#nace_codes")).to_have_value("16.11")
    await expect(page.locator("#nace-chosen")).to_contain_text("16.11")
    await page.locator("#street").fill("Toftebergveien 3")
    await page.locator("#postcode").fill("1617")
    await page.locator("#city").fill("Fredrikstad")
    # A click on the map places the company.
    await expect(page.locator("[data-map]")).to_have_attribute("data-ready", "1")
    await page.locator(".map-canvas").click(position={"x": 300, "y": 300})
    await expect(page.locator("#latitude")).to_have_value(re.compile(r"^\d+,\d+$"))  # bokmål
    await page.locator("#plot").fill("C3")
    await page.locator("#admin_name").fill("Kari Sagbruk")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#again").fill(PASSWORD)
