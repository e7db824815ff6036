"""A search that finds more than a page of listings, and a company's own listings page, say
so and lead to the next page (issue 18: long lists page), in a real browser on the real
stack."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Browser, expect

from services.notifications.domain import Note, Text
from services.notifications.storage import inbox as inbox_store
from shared.db import create_pool
from tests.e2e.test_portal_browser import browser, company_with_admin, context, sign_in
from tests.support import Stack, close_pool

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

JAN_MAYEN = {"latitude": 70.9821, "longitude": -8.5096}  # no other test puts a site here
PAGE = 50  # the portal's search page


async def test_a_search_with_more_than_a_page_leads_to_the_next(
    browser: Browser, stack: Stack
) -> None:
    word = f"Sidevis{uuid.uuid4().hex[:6]}"
    company = await company_with_admin(stack, f"Sidevis {uuid.uuid4().hex[:4]} AS")
    headers = {"Authorization": f"Bearer {company['api_key']}"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        for n in range(PAGE + 1):
            posted = await client.post(
                "/api/listings/listings/",
                json={
                    "kind": "offer",
                    "ewc_code": "20 01 01",
                    "title": f"{word} papir {n}",
                    "quantity": "2",
                    "unit": "t",
                    "location": JAN_MAYEN,
                },
                headers=headers,
            )
            assert posted.status_code == 201, posted.text
    made = await context(browser, stack)
    page = await made.new_page()
    try:
        await sign_in(page, company)
        await page.goto(f"/search?q={word}")
        rows = page.locator("#results tbody tr", has_text=word)
        await expect(rows).to_have_count(PAGE)
        following = page.get_by_role("link", name="More listings found: the next page")
        await expect(following).to_be_visible()
        await following.click()
        await expect(page).to_have_url(re.compile(rf"/search\?q={word}&cursor="))
        await expect(page.locator("#results tbody tr", has_text=word)).to_have_count(1)
        await expect(
            page.get_by_role("link", name="More listings found: the next page")
        ).to_have_count(0)
        await expect(page.get_by_label(re.compile("Words"))).to_have_value(word)
        # the company's own listings page the same way, newest first
        await page.goto("/listings")
        await expect(page.locator("tbody tr", has_text=word)).to_have_count(PAGE)
        await expect(page.locator("tbody tr").first).to_contain_text(f"{word} papir {PAGE}")
        older = page.get_by_role("link", name="Older listings: the next page")
        await older.click()
        await expect(page.locator("tbody tr", has_text=word)).to_have_count(1)
        await expect(page.locator("tbody tr", has_text=word)).to_contain_text(f"{word} papir 0")
        await expect(older).to_have_count(0)
        await page.goto("/listings?cursor=not-a-cursor")  # an altered address: the first page
        await expect(page).to_have_url(re.compile(r"/listings$"))
    finally:
        await made.close()


async def test_the_inbox_shows_a_page_of_notifications_and_leads_to_the_older(
    browser: Browser, stack: Stack
) -> None:
    company = await company_with_admin(stack, f"Innboks {uuid.uuid4().hex[:4]} AS")
    word = f"Varsel{uuid.uuid4().hex[:6]}"
    pool = await create_pool(stack.env["SYMBIOSIS_DATABASE_URL"], "notifications")
    try:
        async with pool.acquire() as conn:
            for n in range(PAGE + 1):  # oldest first, as they would have come
                note = Note(
                    id=uuid.uuid4(),
                    company_id=uuid.UUID(company["company"]["id"]),
                    title=Text(nb=f"{word} {n}", en=f"{word} {n}"),
                    body=Text(nb="Tekst", en="Text"),
                    link="/contracts",
                )
                await inbox_store.add_note(conn, note, uuid.uuid4(), "contract.agreed", "s")
    finally:
        await close_pool(pool)
    made = await context(browser, stack)
    page = await made.new_page()
    try:
        await sign_in(page, company)
        await page.goto("/inbox")
        notes = page.locator("#inbox-notes li", has_text=word)
        await expect(notes).to_have_count(PAGE)
        await expect(notes.first).to_contain_text(f"{word} {PAGE}")
        await page.get_by_role("link", name="Older notifications: the next page").click()
        await expect(notes).to_have_count(1)
        await expect(notes).to_contain_text(f"{word} 0")
        await expect(
            page.get_by_role("link", name="Older notifications: the next page")
        ).to_have_count(0)
        await page.get_by_role("link", name="Back to the newest notifications").click()
        await expect(notes).to_have_count(PAGE)
    finally:
        await made.close()
