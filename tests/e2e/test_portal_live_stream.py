"""A portal page follows the company's inbox with one live stream, and the stream ends when
the page goes: in a real browser (Debian's chromium, with its back/forward cache on, as a
person's browser has it) on the running services, counted where the streams end, in the
notifications service (``symbiosis_inbox_streams_open`` on its /metrics)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from shared.settings import Settings
from tests.e2e.test_portal_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE,
    company_with_admin,
    context,
    keep_local,
    sign_in,
)
from tests.support import Stack

pytestmark = pytest.mark.e2e

GAUGE = re.compile(r"^symbiosis_inbox_streams_open (\S+)$", re.MULTILINE)
# Whatever the browser had open and stopped, the services see it go within this (the
# gateway, the portal and the notifications service each notice the closed connection).
LET_GO = 10.0


@pytest.fixture(scope="module")
async def cached_browser() -> AsyncIterator[Browser]:
    """Chromium as people run it: Playwright turns the back/forward cache off by default,
    and a page restored from it is where a second stream could come from."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        try:
            yield launched
        finally:
            await launched.close()


async def open_streams(stack: Stack) -> int:
    """The inbox streams the notifications service is serving now."""
    port = Settings(http_port=stack.http_port).service_port("notifications")
    async with httpx.AsyncClient(timeout=5) as plain:
        answer = await plain.get(f"http://127.0.0.1:{port}/metrics")
    answer.raise_for_status()
    found = GAUGE.search(answer.text)
    assert found, "the notifications service does not count its inbox streams"
    return int(float(found.group(1)))


async def settles_at(stack: Stack, expected: int, within: float = LET_GO) -> None:
    """The count of open streams comes to ``expected`` and holds for a second (a stream
    the page opens late or one it leaves open shows in that second), within ``within``."""
    deadline = time.monotonic() + within
    seen: list[int] = []
    held_since: float | None = None
    while True:
        seen.append(await open_streams(stack))
        now = time.monotonic()
        if seen[-1] != expected:
            held_since = None
        elif held_since is None:
            held_since = now
        elif now - held_since >= 1.0:
            return
        assert now < deadline, f"inbox streams open: {seen}, expected {expected} to hold"
        await asyncio.sleep(0.2)


SVALBARD = {"latitude": 78.2232, "longitude": 15.6267}


async def trade(stack: Stack, company: dict[str, Any]) -> None:
    """The company offers sulphur and another company needs it: the matcher proposes the
    trade, and the company gets a note."""
    buyer = await company_with_admin(stack, "Svovel Kjøper AS", "nb")
    listing = {
        "resource_class": "sulphur",
        "title": "Svovel fra gassrensing",
        "unit": "t",
        # a place of the test's own: a listing without one would reach other tests' needs
        # (tests/e2e/test_uncovering.py asks for sulphur at Narvik)
        "location": SVALBARD,
    }
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        for who, kind, quantity in ((company, "offer", "40"), (buyer, "need", "30")):
            answer = await client.post(
                "/api/listings/listings/",
                headers={"Authorization": f"Bearer {who['api_key']}"},
                json={**listing, "kind": kind, "quantity": quantity, "price_per_unit_ore": 9000},
            )
            assert answer.status_code == 201, answer.text


def streams_asked(page: Page) -> list[str]:
    """The URLs of the inbox streams the page's tab asks for, from now on."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/inbox/stream" in r.url else None)
    return asked


async def test_a_page_follows_the_inbox_with_one_stream_that_ends_when_the_page_goes(
    cached_browser: Browser, stack: Stack
) -> None:
    company = await company_with_admin(stack, "Strømmen Foredling AS", "nb")
    before = await open_streams(stack)
    made = await context(cached_browser, stack, locale="nb-NO")
    await keep_local(made)
    try:
        page = await made.new_page()
        await page.add_init_script(
            "window.__restored = 0;"
            "addEventListener('pageshow', e => { if (e.persisted) window.__restored++; });"
        )
        asked = streams_asked(page)
        await sign_in(page, company)  # lands on /listings
        await settles_at(stack, before + 1)
        assert len(asked) == 1, asked

        # Another page: the first page's stream ends, the new page has its own.
        await page.get_by_role("link", name="Kontrakter").click()
        await expect(page).to_have_url(re.compile(r"/contracts$"))
        await settles_at(stack, before + 1)
        assert len(asked) == 2, asked

        # Back: the page the browser kept (back/forward cache) follows the inbox again,
        # with one stream, and the page it left lets its own go.
        await page.go_back(wait_until="commit")  # a page from the cache has no "load"
        await expect(page).to_have_url(re.compile(r"/listings$"))
        await settles_at(stack, before + 1)
        restored = await page.evaluate("window.__restored")
        reasons = await page.evaluate(
            "JSON.stringify(performance.getEntriesByType('navigation')[0].notRestoredReasons)"
        )
        assert restored == 1, f"the page was loaded again, not restored: {reasons}"
        assert len(asked) == 3, asked
        # and the stream it follows now is the one its live list shows
        await trade(stack, company)
        await expect(page.locator("#live-notes li").first).to_be_visible(timeout=LIVE)

        # htmx changes the search page in place, and its address, and back again: the page
        # keeps the one stream it opened.
        await page.goto("/search")
        await settles_at(stack, before + 1)
        assert len(asked) == 4, asked
        await page.locator("#kind").select_option("offer")
        await expect(page).to_have_url(re.compile(r"/search\?.*kind=offer"))
        await settles_at(stack, before + 1)
        await page.go_back(wait_until="commit")
        await expect(page).to_have_url(re.compile(r"/search$"))
        await expect(page.locator("#kind")).to_have_value("")
        await settles_at(stack, before + 1)
        assert len(asked) == 4, asked

        # The tab closes: nothing of it stays open on the services.
        await page.close()
        await settles_at(stack, before)
    finally:
        await made.close()
