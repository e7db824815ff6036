"""The portal in a real browser (Debian's chromium driven by Playwright) on the running
services: two companies trade from first listing to invoice, and a refused form is
explained in words, in both languages, with the field marked.

Each page is photographed into screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    async_playwright,
    expect,
)

from tests import peppol
from tests.e2e.test_trade_papers import text_of
from tests.support import REPO, Stack, bank_account, org_number

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "screenshots"
PASSWORD = "a long passphrase for the portal"
LOOPBACK = ip_network("127.0.0.0/8")
LIVE = 60_000  # ms: how long a live notification may take (matcher, contracts, notifications)


@asynccontextmanager
async def launched_browser() -> AsyncIterator[Browser]:
    """Debian's chromium, each of its contexts kept to the loopback (``keep_local``)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}: run `make test` "
            "(it installs it) or `apt-get install -y chromium`",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        new_context = browser.new_context

        async def local_context(**options: Any) -> BrowserContext:
            made = await new_context(**options)
            await keep_local(made)
            return made

        browser.new_context = local_context  # type: ignore[method-assign]
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="module")
def browser(chromium: Browser) -> Browser:
    """The browser of the session (tests/conftest.py): one chromium for every browser test's
    module, each test in contexts of its own (own cookies and storage); starting one per
    module cost a second or two each."""
    return chromium


BLOCKED: dict[int, list[str]] = {}  # context id -> the requests refused, in order


async def keep_local(made: BrowserContext) -> None:
    """Refuse every request of the context that does not go to 127.0.0.0/8 (the map's
    tiles among them): the tests never reach the internet, and see the offline fallback.
    The refused addresses are kept in BLOCKED, for a test to see what was asked."""
    # a new list: a context of an earlier test, gone, may have had the same id
    refused = BLOCKED[id(made)] = []

    async def route(request: Route) -> None:
        host = urlsplit(request.request.url).hostname or ""
        try:
            local = ip_address(host) in LOOPBACK
        except ValueError:
            local = False
        if local:
            await request.continue_()
        else:
            refused.append(request.request.url)
            await request.abort("internetdisconnected")

    await made.route(lambda _url: True, route)


async def company_with_admin(stack: Stack, name: str, language: str = "en") -> dict[str, Any]:
    """Register a company with its first admin (who reads ``language``) through the API."""
    email = f"admin-{uuid.uuid4().hex[:8]}@{name.split()[0].lower()}.example"
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        response = await client.post(
            "/api/listings/companies/",
            json={
                "name": name,
                "org_number": org_number(),
                "address": {"street": "Tofteberg 5", "postcode": "1617", "city": "Fredrikstad"},
                "bank_account": bank_account(),
                "admin": {
                    "name": f"Admin of {name}",
                    "email": email,
                    "password": PASSWORD,
                    "language": language,
                },
            },
        )
    assert response.status_code == 201, response.text
    return {"name": name, "email": email, **response.json()}


async def context(browser: Browser, stack: Stack, locale: str = "en-GB") -> BrowserContext:
    made = await browser.new_context(
        base_url=stack.url, locale=locale, viewport={"width": 1280, "height": 900}
    )
    made.set_default_timeout(20_000)
    return made


async def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def submit_sign_in(
    page: Page, email: str, password: str = PASSWORD, shot: str | None = None
) -> None:
    """Fill in the sign-in form on the page shown, in either language, and send it."""
    await page.get_by_label(re.compile("E-mail|E-post")).fill(email)
    await page.get_by_label(re.compile("Password|Passord")).fill(password)
    if shot:
        await shoot(page, shot)
    await page.get_by_role("button", name=re.compile("^(Sign in|Logg inn)$")).click()


async def sign_in(page: Page, company: dict[str, Any], shot: str | None = None) -> None:
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in"))
    await submit_sign_in(page, company["email"], shot=shot)
    await expect(page).to_have_url(re.compile(r"/listings$"))
    await expect(page.locator("header")).to_contain_text(company["name"])


async def create_listing(
    page: Page, kind: str, title: str, quantity: str, price: str, point: tuple[int, int], shot: str
) -> None:
    await page.goto(f"/listings/new?kind={kind}")
    picker = page.get_by_label("Waste code (European List of Waste)")
    await picker.fill("plant-tissue")
    choice = page.locator('#ewc-results button[data-code="02 01 03"]')
    await expect(choice).to_be_visible()
    if kind == "offer":
        await shoot(page, "listing-new-waste-code-picker")
    await choice.click()
    await expect(picker).to_have_value("02 01 03")
    await expect(page.locator("#ewc-chosen")).to_contain_text("Plant-tissue waste")
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Quantity").fill(quantity)
    await page.get_by_label("Unit", exact=True).select_option("t")
    await page.get_by_label("Price per unit in NOK, excluding MVA").fill(price)
    # the quality rows offer the waste code's properties once it is chosen
    await expect(page.locator('#quality_0_property option[value="temperature_c"]')).to_have_count(0)
    await page.get_by_label("Property 1").select_option("moisture")
    await page.get_by_label("At most 1").fill("45")
    await expect(page.locator("#quality_0_unit-shown")).to_have_text("%")
    # A click on the map fills latitude and longitude.
    await expect(page.locator("[data-map]")).to_have_attribute("data-ready", "1")
    await page.locator(".map-canvas").click(position={"x": point[0], "y": point[1]})
    await expect(page.get_by_label("Latitude")).not_to_have_value("")
    await expect(page.get_by_label("Longitude")).not_to_have_value("")
    await shoot(page, shot)
    await page.get_by_role("button", name="Create the listing").click()
    await expect(page).to_have_url(re.compile(r"/listings/[0-9a-f-]{36}$"))
    await expect(page.locator("h1")).to_have_text(title)
    await expect(page.locator("main")).to_contain_text("02 01 03")


async def test_two_companies_trade_from_listing_to_invoice(browser: Browser, stack: Stack) -> None:
    supplier = await company_with_admin(stack, "Portal Gartneri AS")
    receiver = await company_with_admin(stack, "Portal Biogass AS")
    supplier_context = await context(browser, stack)
    receiver_context = await context(browser, stack)
    try:
        a = await supplier_context.new_page()
        b = await receiver_context.new_page()

        await sign_in(a, supplier, shot="sign-in")
        await shoot(a, "listings-empty")
        await create_listing(
            a,
            "offer",
            "Plant trimmings from the greenhouses",
            "30",
            "100",
            (220, 300),
            "listing-new-offer",
        )
        await shoot(a, "listing-offer")
        await a.goto("/listings")
        await expect(a.locator("table.listings")).to_contain_text("Plant trimmings")
        await shoot(a, "listings")

        # The supplier waits on the inbox; the proposal must arrive there without a reload.
        await a.goto("/inbox")
        await a.evaluate("window.portalNotReloaded = true")
        await sign_in(b, receiver)
        await create_listing(
            b, "need", "Green waste for the digester", "20", "300", (260, 330), "listing-new-need"
        )
        live_note = a.locator("#inbox-notes").get_by_text(re.compile("A buyer for your offer"))
        await expect(live_note.first).to_be_visible(timeout=LIVE)
        assert await a.evaluate("window.portalNotReloaded === true"), "the inbox page reloaded"
        await expect(a.locator("#live-notes")).to_contain_text("A buyer for your offer")
        await shoot(a, "inbox-live-proposal")

        # The receiver finds it among the proposals (that list also follows the stream).
        await b.goto("/proposals")
        trade = b.locator("#trade-list a", has_text="Plant trimmings")
        await expect(trade.first).to_be_visible(timeout=LIVE)
        # the row says which of the receiver's listings it serves and what the other offers
        row = b.locator("#trade-list tr", has=b.get_by_role("link", name=re.compile("^Plant trim")))
        await expect(row.locator(".ours")).to_contain_text("Green waste for the digester")
        await expect(row.locator(".ours")).to_contain_text("we need")
        await expect(row.locator(".theirs")).to_contain_text(
            f"{supplier['name']} offers: Plant trimmings from the greenhouses"
        )
        await shoot(b, "proposals")
        await trade.first.click()
        await expect(b).to_have_url(re.compile(r"/negotiations/[0-9a-f-]{36}$"))
        negotiation_path = b.url.split(stack.url, 1)[1]
        await expect(b.locator("main")).to_contain_text("Why the exchange proposes it")
        await expect(b.locator("main")).to_contain_text("What it is worth")
        await shoot(b, "negotiation-proposed")

        # The receiver counters: 15 t at 150 NOK/t.
        await b.get_by_text("Counter with other terms").click()
        await b.get_by_label(re.compile(r"^Quantity \(")).fill("15")
        await b.get_by_label("Price per unit in NOK, excluding MVA").fill("150")
        await shoot(b, "negotiation-counter-form")
        await b.get_by_role("button", name="Send the counter-offer").click()
        await expect(b.locator("#terms-title")).to_contain_text("version 2")
        await expect(b.locator("main")).to_contain_text(
            "You have accepted these terms; waiting for the other company."
        )
        await shoot(b, "negotiation-countered")

        # The supplier accepts the counter-offer: both sides have, so it is a contract.
        await a.goto(negotiation_path)
        await expect(a.locator("#terms-title")).to_contain_text("version 2")
        await expect(a.locator("main")).to_contain_text("NOK 150.00")
        await a.get_by_role("button", name="Accept these terms").click()
        await expect(a.locator(".lead .status")).to_have_text("agreed")
        await shoot(a, "negotiation-agreed")
        await a.get_by_role("link", name="Go to the contract").click()
        await expect(a).to_have_url(re.compile(r"/contracts/[0-9a-f-]{36}$"))
        contract_path = a.url.split(stack.url, 1)[1]

        # The supplier records a delivery; the receiver confirms it.
        await a.get_by_label(re.compile(r"^Quantity \(")).fill("12,5")
        await a.get_by_label("Weighbridge note").fill("Gate 2")
        await a.get_by_label("Measured by").select_option("weighbridge")
        await a.get_by_label("Weighbridge ticket number").fill("4711")
        await a.get_by_label("Carrier", exact=True).fill("Østfold Transport AS")
        await shoot(a, "contract-record-delivery")
        await a.get_by_role("button", name="Record the delivery").click()
        await expect(a.locator("main table")).to_contain_text("recorded, awaiting confirmation")
        await expect(a.locator("main table")).to_contain_text("12.5")
        await b.goto(contract_path)
        await shoot(b, "contract-delivery-to-confirm")
        await b.get_by_role("button", name=re.compile("^Confirm")).click()
        await expect(b.locator("main table")).to_contain_text("confirmed")
        await shoot(b, "contract-delivery-confirmed")
        await b.goto("/contracts")
        await expect(b.locator("main")).to_contain_text("Plant trimmings")
        await shoot(b, "contracts")

        # The confirmed delivery is invoiced (through stripe-mock): 12.5 t x 150 NOK + 25 % MVA.
        deadline = time.monotonic() + 60
        while True:
            await b.goto("/invoices")
            if await b.locator("main tbody a").count():
                break
            assert time.monotonic() < deadline, "no invoice appeared within 60 s"
            await b.wait_for_timeout(1000)
        await expect(b.locator("main tbody")).to_contain_text("NOK 2,343.75")
        await shoot(b, "invoices")
        await b.locator("main tbody a").first.click()
        await expect(b.locator("main")).to_contain_text("NOK 1,875.00")
        await expect(b.locator("main")).to_contain_text("Portal Biogass AS")
        await expect(b.locator("main")).to_contain_text("issued, awaiting payment")
        await shoot(b, "invoice")

        # What the buyer books and pays with: number, dates, KID, account; PDF and EHF.
        main = b.locator("main")
        await expect(main).to_contain_text("Invoice 1")
        await expect(main).to_contain_text("KID")
        await expect(main).to_contain_text("Due date")
        await expect(main).to_contain_text("taken from its payout")
        invoice_path = b.url.split(stack.url, 1)[1]
        pdf = await b.request.get(f"{invoice_path}/invoice.pdf")
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        assert "Faktura 1" in text_of(await pdf.body())  # the buyer company's language: bokmål
        ehf = await b.request.get(f"{invoice_path}/invoice.xml")
        assert ehf.ok and peppol.errors(await ehf.body()) == []

        # The receiver's own report counts the delivery; both downloads work.
        await b.goto("/report")
        figures = b.locator("#report-figures")
        await expect(figures.locator("tr[data-key=received_tonnes]")).to_contain_text("12.5")
        await expect(b.locator("main")).to_contain_text("SDG 12.5")
        await shoot(b, "report")
        for kind in ("pdf", "csv"):
            assert (await b.request.get(f"/report/{kind}")).ok

        # The supplier's delivery note names the carrier and the ticket.
        await a.goto(contract_path)
        note = await a.request.get(
            await a.get_by_role("link", name="Delivery note (PDF)").get_attribute("href") or ""
        )
        words = text_of(await note.body())
        assert "Østfold Transport AS" in words and "4711" in words

        # Found wet after all: the receiver disputes the confirmed delivery; a credit note.
        await b.goto(contract_path)
        await b.get_by_text("Dispute after confirming (the invoice is credited)").click()
        await b.get_by_label("What is wrong?").fill("Too wet to digest")
        await b.get_by_role("button", name="Dispute the delivery").click()
        await expect(b.locator("main table")).to_contain_text("disputed")
        await b.goto(invoice_path)
        await expect(b.locator("main")).to_contain_text("Credit note 2")
        # why, from its code, with the receiver's own words marked as theirs
        credited_because = b.locator("main p", has_text="Credits this invoice in full")
        await expect(credited_because).to_contain_text("delivery disputed after invoicing")
        await expect(credited_because.locator('[translate="no"]')).to_have_text("Too wet to digest")
        await expect(b.locator(".lead .status")).to_have_text("credited")
        await shoot(b, "invoice-credited")
        credit = await b.request.get(f"{invoice_path}/credit-note.xml")
        assert credit.ok and peppol.errors(await credit.body()) == []

        await a.goto("/company")
        await expect(a.locator("main")).to_contain_text(supplier["name"])
        await shoot(a, "company")
        await a.goto("/search?q=Green+waste")
        await expect(a.locator("#results")).to_contain_text("Green waste for the digester")
        await expect(a.locator("#results")).to_contain_text(receiver["name"])  # who needs it
        await shoot(a, "search")
        await a.set_viewport_size({"width": 390, "height": 844})
        await a.goto(negotiation_path)
        await shoot(a, "negotiation-phone")
    finally:
        await supplier_context.close()
        await receiver_context.close()


@pytest.mark.parametrize(
    ("language", "switch_to", "not_a_code", "not_a_number"),
    [
        (
            "en",
            "English",
            "This is not a code of the European List of Waste.",
            "Enter a number, e.g. 12,5.",
        ),
        (
            "nb",
            "Norsk bokmål",
            "Dette er ikke en kode i den europeiske avfallslisten.",
            "Skriv et tall, f.eks. 12,5.",
        ),
    ],
)
async def test_a_refused_listing_is_explained_in_words_with_the_field_marked(
    browser: Browser,
    stack: Stack,
    language: str,
    switch_to: str,
    not_a_code: str,
    not_a_number: str,
) -> None:
    company = await company_with_admin(stack, f"Portal Feil {language.upper()} AS")
    # The browser asks for the other language; the switch in the page wins and is kept.
    made = await context(browser, stack, locale="nb-NO" if language == "en" else "en-GB")
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await page.get_by_role("button", name=switch_to).click()
        await expect(page.locator("html")).to_have_attribute("lang", language)
        await page.goto("/listings/new?kind=offer")
        await expect(page.locator("html")).to_have_attribute("lang", language)

        # Not a number: the portal says so before asking the service.
        await page.locator("#ewc_code").fill("02 01 03")
        await page.locator("#title").fill("Something to give away")
        await page.locator("#quantity").fill("plenty")
        await page.locator("form.listing-form button[type=submit]").click()
        await expect(page.locator("#quantity")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#quantity-error")).to_have_text(not_a_number)
        await expect(page.locator("#problem")).to_be_visible()
        await shoot(page, f"listing-error-number-{language}")

        # Not a waste code: the listings service refuses it (problem details), and the
        # page says why in the person's language, at the code field.
        await page.locator("#quantity").fill("10")
        await page.locator("#ewc_code").fill("99 99 99")
        await page.locator("form.listing-form button[type=submit]").click()
        await expect(page.locator("#ewc_code")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#ewc_code-error")).to_have_text(not_a_code)
        await expect(page.locator("#title")).to_have_value("Something to give away")
        body = await page.locator("body").inner_text()
        assert "Traceback" not in body and '"status"' not in body and "{" not in body
        await shoot(page, f"listing-error-code-{language}")
    finally:
        await made.close()


async def test_a_company_gives_what_its_invoices_need(browser: Browser, stack: Stack) -> None:
    company = await company_with_admin(stack, "Portal Kontoløs AS")
    made = await context(browser, stack)
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await page.goto("/company")
        await expect(page.locator("main")).to_contain_text("Details for invoices")
        await page.get_by_label("Bank account (11 digits)").fill("8601 11 17948")
        await page.get_by_role("button", name="Save the details").click()
        field = page.locator(".field.invalid")
        await expect(field).to_contain_text("Bank account")
        await expect(page.get_by_label("Bank account (11 digits)")).to_have_attribute(
            "aria-invalid", "true"
        )
        await page.get_by_label("Bank account (11 digits)").fill("8601 11 17947")
        await page.get_by_label("Registered in Merverdiavgiftsregisteret").uncheck()
        await page.get_by_label("Language of our invoices and papers").select_option("en")
        await page.get_by_role("button", name="Save the details").click()
        await expect(page).to_have_url(re.compile(r"/company$"))
        await expect(page.locator("main dl")).to_contain_text("86011117947")
        await expect(page.locator("main dl")).to_contain_text("not registered")
        await shoot(page, "company-invoicing")
        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
            me = (
                await client.get(
                    "/api/listings/companies/me",
                    headers={"Authorization": f"Bearer {company['api_key']}"},
                )
            ).json()
        assert (me["bank_account"], me["vat_registered"], me["language"]) == (
            "86011117947",
            False,
            "en",
        )
    finally:
        await made.close()
