"""The park office's console in a real browser on the running services: an administrator
verifies a company, suspends it with a reason (the company's user, posting a listing, is
told in their language why it is refused, and every page they open says that the park
suspended the company, why, and what still works), and reinstates it (the banner goes,
posting works again); the park's
people page lists a person the test made, sorted and paged. Every page is checked by
axe-core and for words of the other language, in both languages."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from services.portal.problems import SUMMARIES
from tests.e2e.portal_checks import check_page
from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import (
    PASSWORD,
    browser,
    company_with_admin,
    context,
    sign_in,
    submit_sign_in,
)
from tests.e2e.test_portal_console import said
from tests.support import Stack

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

REASON = "Ubetalt leie siden mars"
STILL_WORKS = (
    "Until the park reinstates the company, it cannot post, publish or change listings, and "
    "other companies do not see them. The contracts already agreed go on: deliveries, "
    "invoices and payments work as before, and you can still read everything here."
)


async def post_an_offer(page: Page, title: str) -> None:
    """Fill in the listing form as a person would and send it."""
    await page.goto("/listings/new?kind=offer")
    await page.locator("#ewc_code").fill("02 01 03")
    await page.locator("#title").fill(title)
    await page.locator("#quantity").fill("10")
    await page.locator("form.listing-form button[type=submit]").click()


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_a_park_administrator_verifies_suspends_and_reinstates_a_company(
    browser: Browser, stack: Stack, language: str
) -> None:
    company = await company_with_admin(stack, f"Konsoll Status {language.upper()} AS", language)
    company_id = company["company"]["id"]
    # Colleagues invited, so that the people page has more than one page of five.
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        for n in range(5):
            invited = await client.post(
                "/api/listings/people/",
                headers={"Authorization": f"Bearer {company['api_key']}"},
                json={
                    "email": f"kollega-{n}-{uuid.uuid4().hex[:6]}@konsoll.example",
                    "name": f"Kollega {n}",
                },
            )
            assert invited.status_code == 201, invited.text
    admin_email = f"park-{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    office = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
    member = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
    try:
        page = await office.new_page()
        await page.goto("/sign-in")
        await submit_sign_in(page, admin_email)
        await expect(page).to_have_url(re.compile(r"/dashboard"))
        await page.get_by_role("link", name=said(language, "Companies"), exact=True).click()
        await expect(page).to_have_url(re.compile(r"/console/companies$"))
        row = page.locator(f'#companies tr[data-company="{company_id}"]')
        await expect(row).to_have_attribute("data-status", "registered")
        await expect(row.locator("td.standing")).to_contain_text(said(language, "registered"))

        # a new company waits at the top of the first page; a search finds it too
        first = page.locator("#companies tbody tr").first
        await expect(first).to_have_attribute("data-company", company_id)
        await page.get_by_label(
            said(language, "Find a company by name or organisation number")
        ).fill(company["company"]["org_number"])
        await page.get_by_role("button", name=said(language, "Search"), exact=True).click()
        await expect(page.locator("#companies tbody tr")).to_have_count(1)
        await expect(row).to_have_attribute("data-status", "registered")

        verify = re.compile(f"^{said(language, 'Verify the company')}")
        await row.get_by_role("button", name=verify).click()
        # back on the page that now holds it, among the verified
        await expect(page).to_have_url(
            re.compile(rf"/console/companies\?page=\d+#company-{company_id}$")
        )
        await expect(row).to_have_attribute("data-status", "verified")
        await expect(row.locator("td.standing")).to_contain_text(said(language, "verified"))
        await check_page(page, f"console-company-verified-{language}")

        # No reason: the field says so, and the company stays verified.
        await row.locator("details.suspend summary").click()
        suspend = row.get_by_role("button", name=re.compile(f"^{said(language, 'Suspend')} "))
        await suspend.click()
        field = page.locator(f"#reason-{company_id}")
        await expect(field).to_have_attribute("aria-invalid", "true")
        await expect(page.locator(f"#reason-{company_id}-error")).to_have_text(
            said(language, "This field is required.")
        )
        await expect(row).to_have_attribute("data-status", "verified")
        await check_page(page, f"console-company-suspend-refused-{language}")

        await field.fill(REASON)
        await suspend.click()
        await expect(row).to_have_attribute("data-status", "suspended")
        await expect(row.locator("td.standing")).to_contain_text(said(language, "suspended"))
        await expect(row.locator("td.standing")).to_contain_text(REASON)
        await check_page(page, f"console-company-suspended-{language}")

        # The audit log says who suspended it, and why.
        await page.get_by_role("link", name=said(language, "Audit log")).click()
        await page.get_by_label(said(language, "What")).select_option("company.suspended")
        await page.get_by_role("button", name=said(language, "Show")).click()
        entry = page.locator('tr[data-action="company.suspended"]', has_text=company["name"])
        await expect(entry).to_contain_text(said(language, "Company suspended"))
        await expect(entry).to_contain_text(REASON)
        await check_page(page, f"audit-company-suspended-{language}")
        await page.get_by_role("link", name=said(language, "Companies"), exact=True).click()

        # The company's user tries to post and is told why, in their language.
        user = await member.new_page()
        await sign_in(user, company)
        await expect(user.locator("html")).to_have_attribute("lang", language)
        await post_an_offer(user, "Plantevev til kompost")
        problem = user.locator("#problem")
        await expect(problem).to_contain_text(
            said(language, SUMMARIES["company.suspended"], reason=REASON)
        )
        await expect(user).not_to_have_url(re.compile(r"/listings/[0-9a-f-]{36}$"))
        await check_page(user, f"listing-refused-company-suspended-{language}")

        # Every page the company's people open says the park suspended it, why, and that
        # what is agreed goes on.
        for where in ("/listings", "/contracts", "/invoices", "/settings/profile", "/inbox"):
            await user.goto(where)
            banner = user.locator("#suspended")
            await expect(banner).to_contain_text(
                said(language, "The park office has suspended your company")
            )
            await expect(banner.locator("q")).to_have_text(REASON)
            await expect(banner).to_contain_text(said(language, STILL_WORKS))
        await check_page(user, f"settings-profile-company-suspended-{language}")

        # The office finds the suspended company again (the list pages: on a park of many
        # companies it is not on the first) and reinstates it.
        await page.get_by_label(
            said(language, "Find a company by name or organisation number")
        ).fill(company["company"]["org_number"])
        await page.get_by_role("button", name=said(language, "Search"), exact=True).click()
        await expect(page.locator("#companies tbody tr")).to_have_count(1)
        reinstate = row.get_by_role("button", name=re.compile(f"^{said(language, 'Reinstate')}"))
        await reinstate.click()
        await expect(row).to_have_attribute("data-status", "verified")
        await expect(row.locator("td.standing")).not_to_contain_text(REASON)
        await check_page(page, f"console-company-reinstated-{language}")

        await post_an_offer(user, "Plantevev til kompost")
        await expect(user).to_have_url(re.compile(r"/listings/[0-9a-f-]{36}$"))
        await expect(user.locator("#suspended")).to_have_count(0)

        # The park's people page lists the company's user, who has just signed in.
        await page.get_by_role("link", name=said(language, "People"), exact=True).click()
        await expect(page).to_have_url(re.compile(r"/console/people"))
        await check_page(page, f"console-people-{language}")
        await page.get_by_role("link", name=said(language, "Last sign-in")).click()
        await expect(page.locator('th[aria-sort="ascending"]')).to_contain_text(
            said(language, "Last sign-in")
        )
        await page.get_by_role("link", name=said(language, "Last sign-in")).click()
        await expect(page.locator('th[aria-sort="descending"]')).to_contain_text(
            said(language, "Last sign-in")
        )
        person = page.locator(f'#people tr[data-person="{company["admin"]["id"]}"]')
        await expect(person).to_contain_text(company["email"])
        await expect(person).to_contain_text(company["name"])
        await expect(person).to_contain_text(said(language, "admin"))
        await expect(person).not_to_contain_text(said(language, "never"))
        await check_page(page, f"console-people-by-sign-in-{language}")
        # A page at a time: five people a page, then the next five.
        await page.goto("/console/people?sort=last_sign_in&order=desc&size=5")
        first = await page.locator("#people tbody tr").all_inner_texts()
        assert len(first) == 5
        await expect(page.locator("nav.pager")).to_contain_text(
            said(language, "Page %(page)s of %(pages)s", page=1, pages="").strip()
        )
        await page.get_by_role("link", name=said(language, "Next page")).click()
        await expect(page).to_have_url(re.compile(r"page=2"))
        second = await page.locator("#people tbody tr").all_inner_texts()
        assert second and not set(first) & set(second)
        await check_page(page, f"console-people-page-2-{language}")
        await page.get_by_role("link", name=said(language, "Previous page")).click()
        await expect(page.locator("#people tbody tr").first).to_have_text(first[0])
    finally:
        await member.close()
        await office.close()
