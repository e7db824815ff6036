"""What people wrote themselves (company and person names, listing and trade titles, notes
and reasons they typed) stands on every company page and every page of the park office
marked ``translate="no"``: a browser's
translator leaves it as written instead of mangling a name, and the browser tests' one-language
check does not take a company's English title on a bokmål page for the portal's own words.
The pages are every company and park page the portal has (read from its app, as
test_portal_every_page reads them), filled with the objects that test makes: two companies
trading to an invoice, with the inbox notes that follow and a stated permit."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.portal_checks import people_text_on
from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import PASSWORD, browser, submit_sign_in
from tests.e2e.test_portal_every_page import (
    REDIRECTS,
    addresses,
    made_for_the_pages,
    new_context,
    page_routes,
)
from tests.integration.test_webhooks import Receiver
from tests.support import Stack

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

# The pages that show the companies' names and the listings' and trades' titles (each must
# show some, marked, so that the check cannot pass on pages that show none).
SHOWING = (
    "/proposals",
    "/negotiations/{negotiation_id:uuid}",
    "/contracts",
    "/contracts/{contract_id:uuid}",
    "/invoices",
    "/invoices/{invoice_id:uuid}",
    "/listings/{listing_id:uuid}",
    "/company",
    "/inbox",
    "/console/companies",
    "/permits",
)


@pytest.mark.timeout(600)
async def test_what_people_wrote_is_marked_not_to_be_translated_on_every_company_page(
    browser: Browser, stack: Stack
) -> None:
    async with Receiver() as receiver, httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        company, objects = await made_for_the_pages(client, receiver.url("/hook"))
    # Every name and title made_for_the_pages writes carries the run's tag.
    tag = re.search(r"\b[0-9a-f]{6}\b", company["name"])
    assert tag, company["name"]
    admin_email = f"park-{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    unmarked: dict[str, list[str]] = {}
    marked: dict[str, int] = {}
    for audience, email in (("company", company["email"]), ("park", admin_email)):
        made = await new_context(browser, stack, "nb")
        try:
            page = await made.new_page()
            await page.goto("/sign-in")
            await submit_sign_in(page, email)
            await expect(page).not_to_have_url(re.compile(r"/sign-in"))
            for route in page_routes():
                if route.audience != audience or route.path in REDIRECTS:
                    continue
                for address in addresses(route, objects):
                    answer = await page.goto(address, wait_until="load")
                    assert answer is not None and answer.status == 200, address
                    count, outside = await people_text_on(page, tag.group(0))
                    marked[route.path] = marked.get(route.path, 0) + count
                    if outside:
                        unmarked[f"{audience} {address}"] = outside
        finally:
            await made.close()
    assert not unmarked, "\n".join(f"{a}: {texts}" for a, texts in unmarked.items())
    shown = {path: marked.get(path, 0) for path in SHOWING}
    assert all(shown.values()), f"pages that showed no names or titles: {shown}"
