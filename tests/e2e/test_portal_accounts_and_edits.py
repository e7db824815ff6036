"""The portal's account pages and second thoughts in a real browser (Debian's chromium,
Playwright) on the running services: a listing edited (and a bad edit refused at its
field) then withdrawn; a delivery disputed by the receiver and seen by the supplier; a
notification marked read in the inbox; a colleague invited, joining and seeing no admin
controls; an API key created, listed without its secret, revoked and then refused.

Each page is photographed into screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import MailDrop
from tests.e2e.test_portal_browser import (
    PASSWORD,
    browser,
    company_with_admin,
    context,
    shoot,
    sign_in,
)
from tests.e2e.test_portal_dashboard import listing
from tests.support import Stack, eventually

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared with the other browser tests

CONTRACTS = "/api/contracts"
LIVE = 20_000  # ms: how long a change the page makes by itself (htmx, the stream) may take


def bearer(company: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {company['api_key']}"}


async def post_listing(client: httpx.AsyncClient, company: dict[str, Any], **body: Any) -> str:
    posted = await client.post("/api/listings/listings/", json=body, headers=bearer(company))
    assert posted.status_code == 201, posted.text
    return str(posted.json()["id"])


async def agreed_contract(
    client: httpx.AsyncClient, supplier: dict[str, Any], receiver: dict[str, Any], tonnes: int
) -> tuple[str, str]:
    """Offer and need by API, both accept the proposed terms: the contract's id and title."""
    title = f"Fly ash from the boiler {uuid.uuid4().hex[:6]}"
    for who, kind, price in ((supplier, "offer", 100), (receiver, "need", 300)):
        await post_listing(client, who, **listing(kind, title, tonnes, price))

    async def negotiation() -> dict[str, Any] | None:
        rows = (await client.get(f"{CONTRACTS}/negotiations/", headers=bearer(receiver))).json()
        return next((n for n in rows if n["title"] == title), None)

    found = await eventually(negotiation, timeout=60)
    terms = {"terms_id": found["terms"]["id"]}
    path = f"{CONTRACTS}/negotiations/{found['id']}/accept"
    first = await client.post(path, json=terms, headers=bearer(receiver))
    assert first.status_code == 200, first.text
    agreed = await client.post(path, json=terms, headers=bearer(supplier))
    assert agreed.status_code == 200, agreed.text
    return str(agreed.json()["contract_id"]), title


async def listing_of(client: httpx.AsyncClient, company: dict[str, Any], id_: str) -> Any:
    response = await client.get(f"/api/listings/listings/{id_}", headers=bearer(company))
    assert response.status_code == 200, response.text
    return response.json()


async def fact(page: Page, term: str) -> str:
    """The text of a fact in the page's ``dl.facts`` (``<dt>term</dt><dd>...</dd>``)."""
    return await page.locator(f'dl.facts dt:text-is("{term}") + dd').inner_text()


async def test_an_admin_edits_a_listing_then_withdraws_it(browser: Browser, stack: Stack) -> None:
    company = await company_with_admin(stack, "Portal Trelast AS")
    title = f"Offcuts from the saw line {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        listing_id = await post_listing(
            client,
            company,
            kind="offer",
            ewc_code="03 01 05",
            title=title,
            quantity="30",
            unit="t",
            price_per_unit_ore=10_000,
        )
        made = await context(browser, stack)
        try:
            page = await made.new_page()
            await sign_in(page, company)
            await page.goto(f"/listings/{listing_id}")
            await expect(page.locator("h1")).to_have_text(title)
            assert "30" in await fact(page, "Quantity")
            assert "NOK 100.00" in await fact(page, "Price per unit")

            # The quantity and the price change, with a decimal comma as people type it.
            await page.get_by_role("link", name="Edit").click()
            await expect(page).to_have_url(re.compile(rf"/listings/{listing_id}/edit$"))
            await expect(page.get_by_label("Quantity")).to_have_value(re.compile(r"^30(\.0*)?$"))
            await expect(page.get_by_label("Price per unit in NOK, excluding MVA")).to_have_value(
                re.compile(r"^100(\.0*)?$")
            )
            await page.get_by_label("Quantity").fill("45")
            await page.get_by_label("Price per unit in NOK, excluding MVA").fill("120,50")
            await shoot(page, "listing-edit-form")
            await page.get_by_role("button", name="Save changes").click()
            await expect(page).to_have_url(re.compile(rf"/listings/{listing_id}$"))
            await expect(page.locator('dl.facts dt:text-is("Quantity") + dd')).to_contain_text(
                "45 tonnes"
            )
            await expect(
                page.locator('dl.facts dt:text-is("Price per unit") + dd')
            ).to_contain_text("NOK 120.50 per tonne")
            await expect(page.locator("h1")).to_have_text(title)
            await shoot(page, "listing-edited")

            # A quantity below zero is refused at its field, in words, and nothing changes.
            await page.get_by_role("link", name="Edit").click()
            await page.get_by_label("Quantity").fill("-3")
            await page.get_by_label("Price per unit in NOK, excluding MVA").fill("999")
            await page.get_by_role("button", name="Save changes").click()
            await expect(page.locator("#quantity")).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("#quantity-error")).to_have_text("Enter a number above zero.")
            await expect(page.locator("#problem")).to_be_visible()
            await expect(page.locator("#quantity")).to_have_value("-3")
            await shoot(page, "listing-edit-error")
            stored = await listing_of(client, company, listing_id)
            assert float(stored["quantity"]) == 45
            assert stored["price_per_unit_ore"] == 12_050

            # Withdrawn: the page says so and offers no more edits.
            await page.goto(f"/listings/{listing_id}")
            await page.get_by_role("button", name="Withdraw").click()
            await expect(page).to_have_url(re.compile(rf"/listings/{listing_id}$"))
            await expect(page.locator(".lead")).to_contain_text("withdrawn")
            await expect(page.get_by_role("link", name="Edit")).to_have_count(0)
            await expect(page.get_by_role("button", name="Withdraw")).to_have_count(0)
            await shoot(page, "listing-withdrawn")
            assert (await listing_of(client, company, listing_id))["status"] == "withdrawn"
            await page.goto("/listings")
            await expect(page.locator("table.listings")).to_contain_text("withdrawn")
        finally:
            await made.close()


async def test_a_receiver_disputes_a_delivery_and_the_supplier_sees_why(
    browser: Browser, stack: Stack
) -> None:
    supplier = await company_with_admin(stack, "Portal Kraftverk AS")
    receiver = await company_with_admin(stack, "Portal Sement AS")
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        contract_id, title = await agreed_contract(client, supplier, receiver, 20)
        recorded = await client.post(
            f"{CONTRACTS}/contracts/{contract_id}/deliveries",
            json={
                "quantity": "12.5",
                "delivered_on": date.today().isoformat(),
                "weighbridge_note": "Ticket 8812",
            },
            headers=bearer(supplier),
        )
        assert recorded.status_code == 201, recorded.text
        delivery_id = recorded.json()["id"]

    receiver_context = await context(browser, stack)
    supplier_context = await context(browser, stack)
    try:
        b = await receiver_context.new_page()
        await sign_in(b, receiver)
        await b.goto(f"/contracts/{contract_id}")
        await expect(b.locator("h1")).to_have_text(title)
        row = b.locator("main table tbody tr", has_text="Ticket 8812")
        await expect(row).to_contain_text("recorded, awaiting confirmation")

        # Too short a reason is explained at the field, which stays open to correct it.
        await row.get_by_text("Dispute", exact=True).click()
        await row.get_by_label("What is wrong?").fill("no")
        await row.get_by_role("button", name="Dispute the delivery").click()
        await expect(b.locator("#problem")).to_be_visible()
        row = b.locator("main table tbody tr", has_text="Ticket 8812")
        await expect(row).to_contain_text("recorded, awaiting confirmation")
        reason = row.get_by_label("What is wrong?")
        await expect(reason).to_be_visible()
        await expect(reason).to_have_attribute("aria-invalid", "true")
        await expect(row.locator(".message")).to_have_text("Enter at least 3 characters.")
        await expect(reason).to_have_value("no")
        await shoot(b, "contract-dispute-error")

        because = "Our weighbridge shows 9.8 t, not 12.5 t"
        await reason.fill(because)
        await shoot(b, "contract-dispute-form")
        await row.get_by_role("button", name="Dispute the delivery").click()
        await expect(b).to_have_url(re.compile(rf"/contracts/{contract_id}$"))
        row = b.locator("main table tbody tr", has_text="Ticket 8812")
        await expect(row.locator(".status")).to_have_text("disputed")
        await expect(row).to_contain_text(because)
        await expect(row.get_by_role("button", name=re.compile("^Confirm"))).to_have_count(0)
        await shoot(b, "contract-disputed")

        # The supplier reads the dispute and its reason on the contract page.
        a = await supplier_context.new_page()
        await sign_in(a, supplier)
        await a.goto(f"/contracts/{contract_id}")
        row = a.locator("main table tbody tr", has_text="Ticket 8812")
        await expect(row.locator(".status")).to_have_text("disputed")
        await expect(row).to_contain_text(because)
        await shoot(a, "contract-disputed-supplier")
        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
            contract = (
                await client.get(f"{CONTRACTS}/contracts/{contract_id}", headers=bearer(supplier))
            ).json()
        delivery = next(d for d in contract["deliveries"] if d["id"] == delivery_id)
        assert (delivery["status"], delivery["dispute_reason"]) == ("disputed", because)
    finally:
        await receiver_context.close()
        await supplier_context.close()


async def unread_count(client: httpx.AsyncClient, company: dict[str, Any]) -> int:
    response = await client.get("/api/notifications/inbox", headers=bearer(company))
    assert response.status_code == 200, response.text
    return int(response.headers["X-Unread-Count"])


async def settled_unread(client: httpx.AsyncClient, company: dict[str, Any]) -> int:
    """The company's unread count once it has stopped changing (the matcher may find more
    than one counterpart, among other tests' listings too)."""
    seen: list[int] = []

    async def settled() -> int | None:
        seen.append(await unread_count(client, company))
        await asyncio.sleep(1)
        recent = seen[-4:]
        return recent[0] if len(recent) == 4 and recent[0] > 0 and len(set(recent)) == 1 else None

    count: int = await eventually(settled, timeout=90)
    return count


async def test_marking_a_note_read_lowers_the_unread_badge_in_place(
    browser: Browser, stack: Stack
) -> None:
    supplier = await company_with_admin(stack, "Portal Meieri AS")
    receiver = await company_with_admin(stack, "Portal Fôr AS")
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        # A match (on a code no other test lists) gives the supplier a note.
        title = f"Whey from the cheese vat {uuid.uuid4().hex[:6]}"
        for who, kind, price in ((supplier, "offer", 10_000), (receiver, "need", 30_000)):
            await post_listing(
                client,
                who,
                kind=kind,
                ewc_code="02 05 01",
                title=title,
                quantity="10",
                unit="t",
                price_per_unit_ore=price,
            )

        before = await settled_unread(client, supplier)

        made = await context(browser, stack)
        try:
            page = await made.new_page()
            await sign_in(page, supplier)
            await page.goto("/inbox")
            badge = page.locator("#unread .badge")
            await expect(badge).to_have_text(str(before), timeout=LIVE)
            unread = page.locator("#inbox-notes li.note.unread")
            await expect(unread).to_have_count(before)
            note = unread.first
            note_title = await note.locator("strong").inner_text()
            await shoot(page, "inbox-unread")

            await page.evaluate("window.portalNotReloaded = true")
            await note.get_by_role("button", name="Mark as read").click()
            await expect(badge).to_have_text(str(before - 1) if before > 1 else "", timeout=LIVE)
            await expect(page.locator("#inbox-notes li.note.unread")).to_have_count(before - 1)
            read = page.locator("#inbox-notes li.note", has_text=note_title).first
            await expect(read).not_to_have_class(re.compile(r"\bunread\b"))
            await expect(read.get_by_role("button", name="Mark as read")).to_have_count(0)
            assert await page.evaluate("window.portalNotReloaded === true"), "the inbox reloaded"
            await shoot(page, "inbox-after-read")
            assert await unread_count(client, supplier) == before - 1

            # A note arriving live raises the badge, and is marked read where it arrived.
            fresh = f"Whey permeate {uuid.uuid4().hex[:6]}"
            for who, kind, price in ((supplier, "offer", 10_000), (receiver, "need", 30_000)):
                await post_listing(
                    client,
                    who,
                    kind=kind,
                    ewc_code="02 05 02",
                    title=fresh,
                    quantity="5",
                    unit="t",
                    price_per_unit_ore=price,
                )
            arrived = page.locator("#inbox-notes li.note.unread", has_text=fresh)
            await expect(arrived.first).to_be_visible(timeout=60_000)
            now = await settled_unread(client, supplier)
            assert now > before - 1
            await expect(badge).to_have_text(str(now), timeout=LIVE)
            await shoot(page, "inbox-live-unread")
            fresh_unread = await arrived.count()
            await arrived.first.get_by_role("button", name="Mark as read").click()
            await expect(badge).to_have_text(str(now - 1) if now > 1 else "", timeout=LIVE)
            await expect(arrived).to_have_count(fresh_unread - 1)
            assert await page.evaluate("window.portalNotReloaded === true"), "the inbox reloaded"

            # Another page agrees: the badge is the service's count, and the notes stay read.
            await page.goto("/listings")
            if now > 1:
                await expect(page.locator("#unread .badge")).to_have_text(str(now - 1))
            await page.goto("/inbox")
            await expect(page.locator("#inbox-notes li.note.unread")).to_have_count(now - 1)
        finally:
            await made.close()


async def invitation_link(drop: MailDrop, address: str) -> str:
    """The link of the invitation the exchange e-mailed to ``address`` (its path)."""

    async def arrived() -> str | None:
        for mail in drop.to(address):
            found = re.search(r"https?://[^/\s]+(/join\?token=\S+)", mail.get_content())
            if found:
                return found.group(1)
        return None

    link: str = await eventually(arrived, timeout=60)
    return link


async def test_an_admin_invites_a_colleague_who_joins_without_admin_controls(
    browser: Browser, stack: Stack, mail_drop: tuple[MailDrop, int]
) -> None:
    company = await company_with_admin(stack, "Portal Glassverk AS")
    colleague_email = f"kari-{uuid.uuid4().hex[:8]}@glassverk.example"
    admin_context = await context(browser, stack)
    colleague_context = await context(browser, stack)
    try:
        page = await admin_context.new_page()
        await sign_in(page, company)
        await page.goto("/company")
        await expect(page.get_by_role("heading", name="Invite a colleague")).to_be_visible()
        invite = page.locator('form[action="/company/people"]')
        await invite.get_by_label("Name").fill("Kari Nordmann")
        await invite.get_by_label("E-mail address").fill(colleague_email)
        await invite.get_by_label("Language").select_option("nb")
        await invite.get_by_label("Role").select_option("member")
        await shoot(page, "company-invite-form")
        await invite.get_by_role("button", name="Invite").click()

        # The page says who was invited; the link goes by e-mail only, never on the page.
        notice = page.get_by_role("status").filter(has_text="Invitation e-mailed")
        await expect(notice).to_contain_text("Kari Nordmann")
        await expect(notice).to_contain_text(colleague_email)
        await expect(page).to_have_url(re.compile(r"/company#colleagues$"))
        colleagues = page.locator("table", has_text="Kari Nordmann")
        await expect(colleagues.locator("tr", has_text=colleague_email)).to_contain_text("invited")
        await shoot(page, "company-invited")
        link = await invitation_link(mail_drop[0], colleague_email)
        token = link.split("=", 1)[1]
        assert len(token) >= 20
        assert token not in await page.content()
        assert "/join" not in await page.locator("main").inner_html()
        # Said once: the page read again does not say it again.
        await page.goto("/company")
        await expect(page.get_by_role("status")).to_have_count(0)

        # The colleague opens the link, and chooses a password (typed twice, alike).
        joining = await colleague_context.new_page()
        await joining.goto(link)
        await expect(joining.get_by_label("Invitation code")).to_have_value(token)
        await joining.get_by_label("Choose a password").fill(PASSWORD)
        await joining.get_by_label("The password again").fill(PASSWORD + "!")
        await joining.get_by_role("button", name="Join").click()
        await expect(joining.locator("#again")).to_have_attribute("aria-invalid", "true")
        await expect(joining.locator("#again-error")).to_have_text(
            "The two passwords are not the same."
        )
        await shoot(joining, "join-error")
        await joining.get_by_label("Choose a password").fill(PASSWORD)
        await joining.get_by_label("The password again").fill(PASSWORD)
        await shoot(joining, "join")
        await joining.get_by_role("button", name="Join").click()
        await expect(joining.get_by_role("status")).to_contain_text("Your password is set.")
        await expect(joining.get_by_label("E-mail address")).to_have_value(colleague_email)
        await shoot(joining, "join-done")
        # The link works once.
        await joining.goto(link)
        await joining.get_by_label("Choose a password").fill(PASSWORD)
        await joining.get_by_label("The password again").fill(PASSWORD)
        await joining.get_by_role("button", name="Join").click()
        await expect(joining.locator("#token-error")).to_have_text(
            "This invitation is unknown, used or expired; ask your administrator again."
        )
        await joining.close()

        # The colleague signs in and reads the portal in the language chosen for them.
        colleague = {"name": company["name"], "email": colleague_email}
        other = await colleague_context.new_page()
        await sign_in(other, colleague)
        await expect(other.locator("html")).to_have_attribute("lang", "nb")
        await expect(other.locator("header")).to_contain_text("Kari Nordmann")
        await other.get_by_role("button", name="English").click()
        await expect(other.locator("html")).to_have_attribute("lang", "en")

        # A member sees the colleagues, but none of the admin's controls.
        await other.goto("/company")
        await expect(other.locator("h1")).to_have_text(company["name"])
        row = other.locator("tr", has_text=colleague_email)
        await expect(row).to_contain_text("member")
        await expect(row).to_contain_text("active")
        await expect(other.get_by_role("heading", name="Invite a colleague")).to_have_count(0)
        await expect(other.locator('form[action="/company/people"]')).to_have_count(0)
        await expect(other.get_by_role("heading", name="API keys")).to_have_count(0)
        await expect(other.get_by_role("button", name="Create a key")).to_have_count(0)
        await expect(other.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)
        await shoot(other, "company-as-member")

        # The admin now sees the colleague active.
        await page.goto("/company")
        await expect(page.locator("tr", has_text=colleague_email)).to_contain_text("active")
    finally:
        await admin_context.close()
        await colleague_context.close()


async def test_an_admin_creates_lists_and_revokes_an_api_key(
    browser: Browser, stack: Stack
) -> None:
    company = await company_with_admin(stack, "Portal Mekaniske AS")
    label = f"Weighbridge {uuid.uuid4().hex[:4]}"
    made = await context(browser, stack)
    try:
        page = await made.new_page()
        await sign_in(page, company)
        await page.goto("/company")
        await expect(page.get_by_role("heading", name="API keys")).to_be_visible()

        # A key needs a name.
        await page.get_by_role("button", name="Create a key").click()
        await expect(page.locator("#label")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#label-error")).to_have_text("This field is required.")

        await page.get_by_label("Name of the new key").fill(label)
        await page.get_by_role("button", name="Create a key").click()
        notice = page.get_by_role("status").filter(has_text="Copy it now")
        await expect(notice).to_contain_text(label)
        secret = (await notice.locator("code.secret").inner_text()).strip()
        assert len(secret) >= 20
        await shoot(page, "company-api-key-created")
        # A reload neither shows it again nor creates a second key.
        await page.reload()
        await expect(page.locator("body")).not_to_contain_text(secret)
        await expect(page.locator("tr", has_text=label)).to_have_count(1)

        async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
            key = {"Authorization": f"Bearer {secret}"}
            works = await client.get("/api/listings/companies/me", headers=key)
            assert works.status_code == 200, works.text
            assert works.json()["name"] == company["name"]

            # Listed by its name and state, never with the secret again.
            await page.goto("/company")
            row = page.locator("tr", has_text=label)
            await expect(row).to_contain_text("active")
            await expect(page.locator("body")).not_to_contain_text(secret)
            assert secret not in await page.content()
            await shoot(page, "company-api-keys")

            await row.get_by_role("button", name=f"Revoke {label}").click()
            await expect(page).to_have_url(re.compile(r"/company$"))
            row = page.locator("tr", has_text=label)
            await expect(row).to_contain_text("revoked")
            await expect(row.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)
            await shoot(page, "company-api-key-revoked")

            refused = await client.get("/api/listings/companies/me", headers=key)
            assert refused.status_code == 401, refused.text
    finally:
        await made.close()
