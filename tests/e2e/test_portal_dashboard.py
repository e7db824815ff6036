"""The park administrators' dashboard in a real browser (Debian's chromium, Playwright):
its figures change when a delivery is confirmed, its charts are drawn, the map draws the
exchange as a line between the two companies, each table downloads as CSV, the optimiser
runs from it, a bad period is explained with the field marked, and a company's person is
told it is not for them.

Screenshots go to screenshots/ (git-ignored), in English and in bokmål.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import (
    PASSWORD,
    browser,
    company_with_admin,
    context,
    shoot,
    submit_sign_in,
)
from tests.support import Stack, eventually

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared with the other browser tests

API = "/api/contracts"


def listing(kind: str, title: str, tonnes: int, price_nok: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "resource_class": "gypsum",
        "title": title,
        "quantity": str(tonnes),
        "unit": "t",
        "price_per_unit_ore": price_nok * 100,
    }


async def confirmed_delivery(
    client: httpx.AsyncClient, supplier: dict[str, Any], receiver: dict[str, Any], tonnes: int
) -> str:
    """A whole trade by API: offer, need, both accept the proposed terms, one delivery
    recorded and confirmed. Returns the contract's id."""
    title = f"Gypsum from flue gas {uuid.uuid4().hex[:6]}"
    for who, kind, price in ((supplier, "offer", 100), (receiver, "need", 300)):
        posted = await client.post(
            "/api/listings/listings/",
            json=listing(kind, title, tonnes, price),
            headers=who["headers"],
        )
        assert posted.status_code == 201, posted.text

    async def negotiation() -> dict[str, Any] | None:
        rows = (await client.get(f"{API}/negotiations/", headers=receiver["headers"])).json()
        return next((n for n in rows if n["title"] == title), None)

    found = await eventually(negotiation, timeout=60)
    terms = {"terms_id": found["terms"]["id"]}
    path = f"{API}/negotiations/{found['id']}/accept"
    first = await client.post(path, json=terms, headers=receiver["headers"])
    assert first.status_code == 200, first.text
    agreed = (await client.post(path, json=terms, headers=supplier["headers"])).json()
    contract_id = str(agreed["contract_id"])
    delivery = await client.post(
        f"{API}/contracts/{contract_id}/deliveries",
        json={"quantity": str(tonnes), "delivered_on": date.today().isoformat()},
        headers=supplier["headers"],
    )
    assert delivery.status_code == 201, delivery.text
    confirmed = await client.post(
        f"{API}/deliveries/{delivery.json()['id']}/confirm", headers=receiver["headers"]
    )
    assert confirmed.status_code == 200, confirmed.text
    return contract_id


async def figure(page: Page, name: str) -> Decimal:
    text = await page.locator(f'[data-figure="{name}"] dd').inner_text()
    digits = re.sub(r"[^\d,.]", "", text.replace("\u00a0", "").replace("\u202f", ""))
    return Decimal(digits.replace(",", "")) if "." in digits else Decimal(digits.replace(",", "."))


async def sign_in_as(page: Page, email: str) -> None:
    await page.goto("/sign-in")
    await submit_sign_in(page, email)


async def test_the_dashboard_shows_the_park_changing(browser: Browser, stack: Stack) -> None:
    admin_email = f"park.{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    supplier = await company_with_admin(stack, "Gipsverket AS", language="nb")
    receiver = await company_with_admin(stack, "Plateverket AS")
    for company in (supplier, receiver):
        company["headers"] = {"Authorization": f"Bearer {company['api_key']}"}
    # both on the map, so that their exchange is drawn as a line between them
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        for company, (lat, lon) in ((supplier, (59.2480, 11.0310)), (receiver, (59.2500, 11.0350))):
            placed = await client.patch(
                "/api/listings/companies/me",
                json={"location": {"latitude": lat, "longitude": lon}},
                headers=company["headers"],
            )
            assert placed.status_code == 200, placed.text

    made = await context(browser, stack)
    page = await made.new_page()
    try:
        await sign_in_as(page, admin_email)
        await page.goto("/dashboard?preset=all")
        await expect(page.get_by_role("heading", name="Park dashboard")).to_be_visible()
        before = await figure(page, "tonnes_exchanged")
        companies_before = await figure(page, "active_companies")

        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
            await confirmed_delivery(client, supplier, receiver, 12)

        await page.reload()
        assert await figure(page, "tonnes_exchanged") == before + 12
        assert await figure(page, "active_companies") >= companies_before + 1
        # both charts are drawn by Chart.js, with the data the page embeds
        drawn = await page.evaluate(
            "['volumes-chart', 'sankey-chart'].map(id => !!Chart.getChart(id))"
        )
        assert drawn == [True, True]
        links = await page.evaluate("Chart.getChart('sankey-chart').data.datasets[0].data")
        assert any(link["flow"] == 12 for link in links)
        flows = page.locator("#flows-title + p + div + details table")
        await expect(flows).to_contain_text("Gipsverket AS")
        # the map draws the exchange as a line from the supplier to the receiver
        drawn_lines = await page.evaluate(
            "JSON.parse(document.querySelector('[data-map] .map-data').textContent).lines"
        )
        assert any(
            line["label"].startswith("Gipsverket AS → Plateverket AS") for line in drawn_lines
        ), drawn_lines
        await expect(page.locator("[data-map] path.exchange").first).to_be_attached()
        await shoot(page, "dashboard-en")

        # each table downloads as CSV for the period shown
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Exchanges, with their CO2e factors (CSV)").click()
        download = await download_info.value
        path = await download.path()
        lines = path.read_text().splitlines()
        assert lines[0].startswith("delivery_id,contract_id,delivered_on")
        assert len(lines) >= 2

        # the optimiser runs from the dashboard and its plan shows beside the proposals
        await page.get_by_label("Goal").select_option("surplus")
        await page.get_by_role("button", name="Run the optimiser").click()
        await expect(page.locator("#optimiser")).to_contain_text("Optimiser's plan")
        await expect(page.locator("#optimiser")).to_contain_text("Open pairwise proposals")

        # a period that ends before it starts is explained, with the field marked
        await page.get_by_label("From", exact=True).fill("2026-05-01")
        await page.get_by_label("To", exact=True).fill("2026-04-01")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#problem")).to_be_visible()
        await expect(page.locator("#start")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#start-error")).to_have_text("The start is after the end.")

        # in bokmål
        await page.goto("/dashboard?preset=all")
        await page.get_by_role("button", name="Norsk bokmål").click()
        await expect(page.get_by_role("heading", name="Parkens oversikt")).to_be_visible()
        await expect(page.locator('[data-figure="tonnes_exchanged"] dt')).to_have_text(
            "Tonn utvekslet"
        )
        await shoot(page, "dashboard-nb")
    finally:
        await made.close()

    # a company's person is told, in words, that the dashboard is not theirs
    made = await context(browser, stack)
    page = await made.new_page()
    try:
        await sign_in_as(page, supplier["email"])
        await expect(page).to_have_url(re.compile(r"/listings$"))
        response = await page.goto("/dashboard")
        assert response is not None and response.status == 403
        # in the person's own language (bokmål, as registered), not the browser's
        await expect(page.locator("#problem")).to_contain_text(
            "Bare parkens administratorer ser parkens oversikt."
        )
        await expect(page.locator("nav")).not_to_contain_text("Parkens oversikt")
    finally:
        await made.close()
