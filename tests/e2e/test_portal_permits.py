"""A company states its permit for hazardous waste and a park administrator verifies it, in
a real browser on the running services, in bokmål: the permit stated on the company page
waits on /permits with its number, authority and waste codes; once verified it leaves the
list, the company page says the park verified it, and the company may ask for the
hazardous waste it covers, which it could not before. No page of the park office asks for
a company's live inbox stream (it has none to follow). On the uncovering page in English the
company's bokmål name and its offer's title stand as written, marked so. Each page is
checked by axe-core and for words of the other language, and photographed into
screenshots/."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Browser, expect

from services.portal.i18n import _, speaking
from tests.e2e.portal_checks import check_page
from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import PASSWORD, browser, context, sign_in, submit_sign_in
from tests.e2e.test_portal_map import company_on_the_map
from tests.support import Stack

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

PERMIT = {
    "number": "2026.0418.T",
    "authority": "Statsforvalteren i Østfold, Buskerud, Oslo og Akershus",
    "waste_codes": ["16 06 01"],
}
BATTERIES = {
    "kind": "need",
    "ewc_code": "16 06 01",
    "hazardous": True,
    "title": "Brukte blybatterier til gjenvinning",
    "quantity": "2",
    "unit": "t",
}

SWEEPINGS = {
    "kind": "offer",
    "ewc_code": "20 01 41",
    "title": "Sot fra feiing av skorsteiner",
    "quantity": "1",
    "unit": "t",
}


def bokmål(message: str) -> str:
    with speaking("nb"):
        return _(message)


async def test_a_park_administrator_verifies_a_permit_and_the_company_may_ask_for_the_waste(
    browser: Browser, stack: Stack
) -> None:
    company = await company_on_the_map(stack, "Tillatelse Gjenvinning AS", "nb")
    company_id = company["company"]["id"]
    headers = {"Authorization": f"Bearer {company['api_key']}"}
    # The company's administrator states its permit on the company page, in bokmål.
    member = await context(browser, stack, locale="nb-NO")
    try:
        page = await member.new_page()
        await sign_in(page, company)
        await page.goto("/company")
        await page.get_by_label(bokmål("Permit number")).fill(PERMIT["number"])
        await page.get_by_label(bokmål("Issued by")).fill(PERMIT["authority"])
        await page.get_by_label(bokmål("Valid until")).fill("31.12.2036")
        await page.get_by_label(bokmål("Hazardous waste codes it covers")).fill("16 06 01")
        await page.get_by_role("button", name=bokmål("State the permit")).click()
        await expect(page).to_have_url(re.compile(r"/company$"))
        await expect(page.locator("#permit")).to_contain_text(
            bokmål("waiting for the park to verify it")
        )
        await check_page(page, "company-permit-stated-nb")
    finally:
        await member.close()
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        early = await client.post("/api/listings/listings/", headers=headers, json=BATTERIES)
        assert early.status_code == 400, early.text  # stated, not verified yet
    admin_email = f"park-{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    office = await context(browser, stack, locale="nb-NO")
    try:
        page = await office.new_page()
        # a park administrator has no inbox: neither the sign-in page nor any page of
        # theirs asks for its live stream (tests/e2e/test_portal_live_stream.py: a company's)
        streams: list[str] = []
        page.on(
            "request",
            lambda request: streams.append(request.url) if "/inbox/stream" in request.url else None,
        )
        await page.goto("/sign-in")
        await submit_sign_in(page, admin_email)
        await expect(page).to_have_url(re.compile(r"/dashboard"))
        await page.get_by_role("link", name=bokmål("Permits"), exact=True).click()
        await expect(page).to_have_url(re.compile(r"/permits$"))
        waiting = page.locator(f"#permit-{company_id}")
        await expect(waiting.locator("h2")).to_have_text(company["name"])
        await expect(waiting).to_contain_text(PERMIT["number"])
        await expect(waiting).to_contain_text(PERMIT["authority"])
        await expect(waiting).to_contain_text("16 06 01")
        await check_page(page, "permits-waiting-nb")
        await waiting.get_by_role("button", name=re.compile(f"^{bokmål('Verify')}")).click()
        await expect(page).to_have_url(re.compile(r"/permits$"))
        await expect(page.locator(f"#permit-{company_id}")).to_have_count(0)
        await check_page(page, "permits-verified-nb")
        assert streams == []
    finally:
        await office.close()
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        need = await client.post("/api/listings/listings/", headers=headers, json=BATTERIES)
        assert need.status_code == 201, need.text
        # an open loop whatever other tests on the stack list: a waste no other test trades
        # and no use takes (other tests' battery offers may answer the need above)
        sweepings = await client.post("/api/listings/listings/", headers=headers, json=SWEEPINGS)
        assert sweepings.status_code == 201, sweepings.text
    member = await context(browser, stack, locale="nb-NO")
    try:
        page = await member.new_page()
        await sign_in(page, company)
        await page.goto("/company")
        await expect(page.locator("#permit")).to_contain_text(bokmål("verified by the park"))
        await check_page(page, "company-permit-verified-nb")
    finally:
        await member.close()
    # The park office reading in English sees the company's bokmål name and its need's
    # title among the open loops as they were written, marked as such (translate="no").
    office = await context(browser, stack, locale="en-GB")
    try:
        page = await office.new_page()
        await page.goto("/sign-in")
        await submit_sign_in(page, admin_email)
        await expect(page).to_have_url(re.compile(r"/dashboard"))
        await page.goto("/uncovering")
        loops = page.locator("#open-loops + p + table")
        await expect(loops).to_contain_text(company["name"])
        await expect(loops).to_contain_text(SWEEPINGS["title"])
        await check_page(page, "uncovering-bokmal-names-en")
    finally:
        await office.close()
