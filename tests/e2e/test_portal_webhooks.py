"""A company's administrator runs the company's webhooks from the portal, in a real browser
on the running services: a refused address is said at its field, an endpoint is added with
the events chosen (its signing secret shown once), a proposed trade reaches the company's
receiver (a real HTTP server on 127.0.0.1) signed with that secret, the delivery shows in
the endpoint's log, and the endpoint is paused, resumed and deleted. In both languages;
every page is checked by axe-core and for words of the other language, and photographed
into screenshots/."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from services.portal.i18n import _, speaking
from tests.e2e.portal_checks import check_page
from tests.e2e.test_portal_browser import browser, company_with_admin, context, sign_in
from tests.e2e.test_webhooks import check_signed, envelope_of, trade
from tests.integration.test_webhooks import Receiver
from tests.support import Stack, eventually

pytestmark = pytest.mark.e2e
__all__ = ["browser"]
CODES = {"nb": "020304", "en": "020305"}  # each run's own, so that it meets only itself


def said(language: str, message: str, **variables: Any) -> str:
    with speaking("nb" if language == "nb" else "en"):
        return _(message, **variables)


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_an_administrator_adds_a_webhook_and_sees_its_deliveries(
    browser: Browser, stack: Stack, language: str
) -> None:
    tag = uuid.uuid4().hex[:4]
    supplier = await company_with_admin(stack, f"Krok {language.upper()} {tag} AS", language)
    buyer = await company_with_admin(stack, f"Kjøper {language.upper()} {tag} AS", language)
    for company in (supplier, buyer):
        company["headers"] = {"Authorization": f"Bearer {company['api_key']}"}
    async with Receiver() as receiver:
        made = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
        try:
            page = await made.new_page()
            await sign_in(page, supplier)
            await page.get_by_role("link", name=said(language, "Webhooks"), exact=True).click()
            await expect(page).to_have_url(re.compile(r"/webhooks/?$"))
            await expect(page.locator("main")).to_contain_text(said(language, "No webhooks yet."))
            await check_page(page, f"webhooks-{language}")

            # Nothing chosen, and an address the exchange will not send to: both are said
            # at their field (checked on its face: nothing is looked up or called).
            add = page.get_by_role("button", name=said(language, "Add the webhook"))
            await page.locator("#url").fill("http://hooks.example.no/viken")
            await add.click()
            await expect(page.locator("#event_types-error")).to_have_text(
                said(language, "Choose at least one event.")
            )
            await page.get_by_label(said(language, "A trade is proposed to you")).check()
            await add.click()
            await expect(page.locator("#url-error")).to_contain_text("https://")
            await expect(page.locator("#url")).to_have_attribute("aria-invalid", "true")
            await check_page(page, f"webhooks-refused-{language}")

            await page.locator("#url").fill(receiver.url("/hook"))
            await page.locator("#description").fill("ERP")
            await add.click()
            await expect(page).to_have_url(re.compile(r"/webhooks/[0-9a-f-]{36}$"))
            secret = (await page.locator("#secret code").inner_text()).strip()
            assert secret
            await check_page(page, f"webhook-added-{language}")
            await page.reload()
            await expect(page.locator("#secret")).to_have_count(0)

            # A trade is proposed: the receiver gets it, signed with the secret shown.
            async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
                await trade(client, supplier, buyer, CODES[language])

            async def delivered() -> bool:
                return len(receiver.on("/hook")) >= 1

            await eventually(delivered, timeout=60)
            request = receiver.on("/hook")[0]
            check_signed(request, secret)
            assert envelope_of(request)["type"] == "trade.proposed"

            row = page.locator("#deliveries tbody tr").first
            for _attempt in range(20):
                await page.reload()
                if said(language, "delivered") in await row.inner_text():
                    break
                await page.wait_for_timeout(500)
            await expect(row).to_contain_text(said(language, "delivered"))
            await expect(row).to_contain_text(said(language, "A trade is proposed to you"))
            await check_page(page, f"webhook-deliveries-{language}")

            await page.get_by_role("button", name=said(language, "Pause")).click()
            await expect(page.locator(".lead")).to_contain_text(said(language, "paused"))
            await page.get_by_role("button", name=said(language, "Resume")).click()
            await expect(page.locator(".lead")).to_contain_text(said(language, "active"))
            await page.get_by_role("button", name=said(language, "Delete")).click()
            await expect(page).to_have_url(re.compile(r"/webhooks/?$"))
            await expect(page.locator("main")).to_contain_text(said(language, "No webhooks yet."))
        finally:
            await made.close()
