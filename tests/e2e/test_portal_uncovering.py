"""Issue 16 in a real browser (Debian's chromium, Playwright): a company registered with its
NACE code turns a suggestion into a draft listing in one click, in bokmål; the picker finds
a resource by its Norwegian word; the park administrator sees the latent synergies and the
open loops with whom to recruit."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import (
    PASSWORD,
    browser,
    context,
    shoot,
    submit_sign_in,
)
from tests.support import Stack, org_number

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

SVALBARD = {"latitude": 78.2232, "longitude": 15.6267}  # no other test puts a site here


async def company(stack: Stack, name: str, nace: str, language: str) -> dict[str, Any]:
    email = f"admin-{uuid.uuid4().hex[:8]}@uncover.example"
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        response = await client.post(
            "/api/listings/companies/",
            json={
                "name": name,
                "org_number": org_number(),
                "nace_codes": [nace],
                "location": {"plot": "E1", **SVALBARD},
                "admin": {"name": name, "email": email, "password": PASSWORD, "language": language},
            },
        )
    assert response.status_code == 201, response.text
    return {"name": name, "email": email, **response.json()}


async def test_a_suggestion_becomes_a_draft_and_the_park_sees_what_it_lacks(
    browser: Browser, stack: Stack
) -> None:
    sawmill = await company(stack, f"Svalbard Sag {uuid.uuid4().hex[:4]} AS", "16.11", "nb")
    boiler = await company(stack, f"Svalbard Varme {uuid.uuid4().hex[:4]} AS", "35.30", "en")
    made = await context(browser, stack, locale="nb-NO")
    page = await made.new_page()
    try:
        await page.goto("/sign-in")
        await submit_sign_in(page, sawmill["email"])
        await page.goto("/company")
        heading = page.get_by_role("heading", name="Hva bedrifter som deres ofte har og trenger")
        await expect(heading).to_be_visible()
        row = page.locator("tr", has_text="03 01 05")
        await shoot(page, "uncovering-suggestions-nb")
        await row.get_by_role("button", name="Lag et utkast").click()
        await expect(page).to_have_url(re.compile(r"/listings/[0-9a-f-]+/edit$"))
        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
            mine = await client.get(
                "/api/listings/listings/",
                params={"mine": "true", "status": "draft"},
                headers={"Authorization": f"Bearer {sawmill['api_key']}"},
            )
        assert [i["ewc_code"] for i in mine.json()["items"]] == ["030105"]
        # the picker knows the Norwegian word
        await page.goto("/listings/new?kind=offer")
        await page.get_by_label("Avfallskode (den europeiske avfallslisten)").fill("sagflis")
        await expect(page.locator("#ewc-results")).to_contain_text("03 01 05")
        await shoot(page, "uncovering-picker-nb")
    finally:
        await made.close()

    # two companies that have listed nothing, and an open offer nobody in the park takes
    flis = await company(stack, f"Svalbard Flis {uuid.uuid4().hex[:4]} AS", "16.11", "en")
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        sand = await client.post(
            "/api/listings/listings/",
            json={
                "kind": "offer",
                "ewc_code": "10 01 24",
                "title": "Bed sand from Svalbard",
                "quantity": "40",
                "unit": "t",
            },
            headers={"Authorization": f"Bearer {sawmill['api_key']}"},
        )
    assert sand.status_code == 201, sand.text
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        gypsum = await client.post(
            "/api/listings/listings/",
            json={
                "kind": "offer",
                "ewc_code": "10 01 05",
                "title": "Gypsum from Svalbard's flue gas",
                "quantity": "300",
                "unit": "t",
            },
            headers={"Authorization": f"Bearer {sawmill['api_key']}"},
        )
    assert gypsum.status_code == 201, gypsum.text
    admin_email = f"park.{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    made = await context(browser, stack)
    page = await made.new_page()
    try:
        await page.goto("/sign-in")
        await submit_sign_in(page, admin_email)
        await page.goto("/uncovering")
        await expect(page.get_by_role("heading", name="Latent synergies")).to_be_visible()
        synergy = page.locator("tr", has_text=flis["name"]).filter(has_text=boiler["name"])
        await expect(synergy.first).to_contain_text("fuel for a boiler")
        loop = page.locator("tr", has_text="Bed sand from Svalbard")
        await expect(loop).to_contain_text("23.51 Manufacture of cement")
        await expect(loop).to_contain_text("E1")  # where a cement works would best sit
        # plasterboard makers took flue-gas gypsum at Kalundborg and in Styria: named first
        gypsum_loop = page.locator("tr", has_text="Gypsum from Svalbard's flue gas")
        first = gypsum_loop.locator("li").first
        await expect(first).to_contain_text("23.62")
        await expect(first).to_contain_text("documented at")
        await expect(first).to_contain_text("Kalundborg, Denmark")
        await shoot(page, "uncovering-admin")
        await page.get_by_role("button", name="Norsk bokmål").click()
        first = page.locator("tr", has_text="Gypsum from Svalbard's flue gas").locator("li").first
        await expect(first).to_contain_text("dokumentert i")
        await expect(first).to_contain_text("Kalundborg, Danmark")
        await expect(first).to_contain_text("Steiermark, Østerrike")
        await shoot(page, "uncovering-admin-nb")
    finally:
        await made.close()
