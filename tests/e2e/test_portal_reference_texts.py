"""Issues 16 §6 and 18 in a real browser: a bokmål page that shows a List of Waste code or a
NACE activity shows the team's bokmål text, never the list's English (read from the shipped
CSV files, so a text that falls back to English fails here), with the note that it is the
team's translation; an English page shows the English. The picker finds a code by a bokmål
word that only its translated description has."""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import PASSWORD, browser, shoot, submit_sign_in
from tests.e2e.test_portal_every_page import new_context
from tests.e2e.test_portal_uncovering import company
from tests.e2e.test_trade_papers import trade
from tests.support import Stack

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

DATA = Path(__file__).parents[2] / "shared" / "data"
NOTE_NB = "børsens egen oversettelse"


def _csv(name: str, key: str) -> dict[str, dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return {row[key]: row for row in csv.DictReader(handle)}


WASTE = _csv("ewc-codes.csv", "code")
NACE = _csv("nace.csv", "code")


async def _main_text(page: Page, address: str) -> str:
    await page.goto(address)
    return await page.locator("main").inner_text()


def _speaks(
    text: str, language: str, *, codes: Sequence[str] = (), activities: Sequence[str] = ()
) -> None:
    """The texts of ``codes`` and ``activities`` are in ``text`` in ``language`` and not in
    the other."""
    other = "en" if language == "nb" else "nb"
    for code in codes:
        shown = WASTE[code]["description_nb" if language == "nb" else "description"]
        hidden = WASTE[code]["description" if language == "nb" else "description_nb"]
        assert shown in text, f"{code}: {shown!r} not shown in {language}"
        assert hidden not in text, f"{code}: the {other} {hidden!r} shown on a {language} page"
    for nace in activities:
        shown = NACE[nace]["name_nb" if language == "nb" else "name"]
        hidden = NACE[nace]["name" if language == "nb" else "name_nb"]
        assert f"{nace} {shown}" in text, f"{nace}: {shown!r} not shown in {language}"
        assert hidden not in text, f"{nace}: the {other} {hidden!r} shown on a {language} page"


async def _offer(owner: dict[str, Any], stack: Stack, code: str, title: str) -> str:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        made = await client.post(
            "/api/listings/listings/",
            json={"kind": "offer", "ewc_code": code, "title": title, "quantity": "40", "unit": "t"},
            headers={"Authorization": f"Bearer {owner['api_key']}"},
        )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_bokmal_pages_show_the_list_of_waste_and_the_activities_in_bokmal(
    browser: Browser, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:4]
    sawmill = await company(stack, f"Svalbard Høvleri {tag} AS", "16.11", "nb")
    scales = await _offer(sawmill, stack, "10 02 10", f"Parti A {tag}")
    await _offer(sawmill, stack, "10 01 24", f"Parti B {tag}")

    for language in ("nb", "en"):
        made = await new_context(browser, stack, language)
        page = await made.new_page()
        try:
            await page.goto("/sign-in")
            await submit_sign_in(page, sawmill["email"])
            await expect(page).not_to_have_url(re.compile("/sign-in"))
            # a listing, and the company's listings
            text = await _main_text(page, f"/listings/{scales}")
            _speaks(text, language, codes=["100210"])
            assert (NOTE_NB in text) == (language == "nb")
            text = await _main_text(page, "/listings")
            _speaks(text, language, codes=["100210", "100124"])
            # the company page's suggestions: the codes' descriptions and the activity's name
            text = await _main_text(page, "/company")
            _speaks(text, language, codes=["030101", "030105"], activities=["16.11"])
            # and why: the basis, with the List of Waste sub-chapter's own words
            english, bokmal = "the wastes of this activity", "avfallet fra denne virksomheten"
            assert (bokmal in text, english in text) == (language == "nb", language == "en")
            assert (NOTE_NB in text) == (language == "nb")
            await shoot(page, f"reference-texts-company-{language}")
            # a suggestion made a draft in one click is written in the page's language
            row = page.locator("tr", has_text="03 01 05")
            await row.get_by_role(
                "button", name=re.compile("^(Lag et utkast|Make a draft)$")
            ).click()
            await expect(page).to_have_url(re.compile(r"/listings/[0-9a-f-]+/edit$"))
            title = WASTE["030105"]["description_nb" if language == "nb" else "description"]
            await expect(page.locator("#title")).to_have_value(title)
            described = await page.locator("#description").input_value()
            activity = NACE["16.11"]["name_nb" if language == "nb" else "name"]
            assert f"16.11 ({activity})" in described, described
            assert (bokmal in described) == (language == "nb"), described
            # the picker, by a word only the bokmål description of 10 02 10 has
            await page.goto("/listings/new?kind=offer")
            await page.locator("#ewc_code").fill("glødeskall")
            results = page.locator("#ewc-results")
            await expect(results).to_contain_text("10 02 10")
            _speaks(await results.inner_text(), language, codes=["100210"])
            await shoot(page, f"reference-texts-picker-{language}")
        finally:
            await made.close()

    # the park office's recruitment list: the kinds of company that would take the bed sand
    admin_email = f"park.{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    for language in ("nb", "en"):
        made = await new_context(browser, stack, language)
        page = await made.new_page()
        try:
            await page.goto("/sign-in")
            await submit_sign_in(page, admin_email)
            await page.goto("/uncovering")
            loop = page.locator("tr", has_text=f"Parti B {tag}")
            await expect(loop).to_contain_text("23.51")
            _speaks(await loop.inner_text(), language, activities=["23.51"])
            assert (NOTE_NB in await page.locator("main").inner_text()) == (language == "nb")
            await shoot(page, f"reference-texts-uncovering-{language}")
        finally:
            await made.close()


async def test_a_contract_page_names_its_waste_code_in_the_pages_language(
    browser: Browser, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:4]
    supplier = await company(stack, f"Svalbard Betong {tag} AS", "23.63", "nb")
    receiver = await company(stack, f"Svalbard Fylling {tag} AS", "16.11", "en")
    for side in (supplier, receiver):
        side["headers"] = {"Authorization": f"Bearer {side['api_key']}"}
    # waste concrete (10 13 14), traded by this test alone
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        contract = await trade(client, "10 13 14", supplier, receiver, tonnes=12)
    for language in ("nb", "en"):
        made = await new_context(browser, stack, language)
        page = await made.new_page()
        try:
            await page.goto("/sign-in")
            await submit_sign_in(page, supplier["email"])
            await expect(page).not_to_have_url(re.compile("/sign-in"))
            text = await _main_text(page, f"/contracts/{contract['id']}")
            _speaks(text, language, codes=["101314"])
            assert (NOTE_NB in text) == (language == "nb")
        finally:
            await made.close()
