"""The park office's console in a real browser on the running services (real Apache Kafka):
the system's health and consumer lag, and a message the notifications consumer
dead-lettered, listed with its reason and replayed after the fix, whereupon the company's
inbox has the note it had missed. Every page is checked by axe-core and for words of the
other language, and photographed into screenshots/."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from playwright.async_api import Browser, expect

from services.portal.i18n import _, ngettext, speaking
from shared.events import Envelope, ListingExpiring, Topic
from shared.kafka import dead_letter_headers
from tests.e2e.portal_checks import check_page
from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import (
    PASSWORD,
    browser,
    company_with_admin,
    context,
    submit_sign_in,
)
from tests.e2e.test_portal_map import company_on_the_map, shown_on_the_plan
from tests.support import Infra, Stack, eventually

pytestmark = pytest.mark.e2e
__all__ = ["browser"]


def said(language: str, message: str, **variables: Any) -> str:
    with speaking("nb" if language == "nb" else "en"):
        return _(message, **variables)


async def dead_letter(infra: Infra, stack: Stack, envelope: Envelope, tries: int) -> str:
    """What shared/kafka.py writes when the notifications consumer's handler fails ``tries``
    times on a message of listings.events.v1, with its headers (``dead_letter_headers``:
    the cause and tries among them), written here as Kafka's admin; the reason."""
    origin = stack.namespace + Topic.LISTINGS.value
    record = ConsumerRecord(
        topic=origin,
        partition=0,
        offset=4242,
        timestamp=0,
        timestamp_type=0,
        key=envelope.subject.encode(),
        value=envelope.to_bytes(),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(("ce_type", envelope.type.encode()),),
    )
    reason = f"handler failed {tries} times: ConnectionRefusedError('smtp')"
    headers = dead_letter_headers(
        record, stack.namespace + "notifications", reason, "handler_failed", tries
    )
    assert (headers["dlq-cause"], headers["dlq-attempts"]) == ("handler_failed", str(tries))
    producer = AIOKafkaProducer(acks="all", **infra.admin_client_options())
    await producer.start()
    try:
        await producer.send_and_wait(
            origin + ".dlq",
            record.value,
            key=record.key,
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
    finally:
        await producer.stop()
    return reason


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_a_park_administrator_replays_a_dead_lettered_message(
    browser: Browser, stack: Stack, infra: Infra, language: str
) -> None:
    company = await company_with_admin(stack, f"Konsoll Fisk {language.upper()} AS", "nb")
    headers = {"Authorization": f"Bearer {company['api_key']}"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        posted = await client.post(
            "/api/listings/listings/",
            headers=headers,
            json={
                "kind": "offer",
                "ewc_code": "020202",
                "title": f"Fiskeslo {uuid.uuid4().hex[:6]}",
                "quantity": "12",
                "unit": "t",
            },
        )
        assert posted.status_code == 201, posted.text
        listing = posted.json()
        # The notice that the listing closes soon, which notifications failed to handle.
        until = date.today() + timedelta(days=3)
        missed = Envelope.wrap(
            ListingExpiring(
                listing_id=listing["id"],
                company_id=company["company"]["id"],
                kind="offer",
                title=listing["title"],
                available_until=until,
                days_left=3,
            ),
            source="/services/listings",
            subject=listing["id"],
        )
        reason = await dead_letter(infra, stack, missed, 5)

        async def noted() -> bool:
            inbox = (await client.get("/api/notifications/inbox/", headers=headers)).json()
            return any(listing["title"] in note["title"] for note in inbox)

        assert not await noted()

        admin_email = f"park-{uuid.uuid4().hex[:8]}@vikenpark.example"
        make_park_admin(stack, admin_email, PASSWORD)
        made = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
        try:
            page = await made.new_page()
            await page.goto("/sign-in")
            await submit_sign_in(page, admin_email)
            await expect(page).to_have_url(re.compile(r"/dashboard"))
            await page.get_by_role("link", name=said(language, "System health")).click()
            await expect(page).to_have_url(re.compile(r"/console/system$"))
            row = page.locator(f'#dead-letters tr[data-event="{missed.id}"]')
            await expect(row).to_contain_text("listing.expiring")
            # why, in the page's language; the service's own words kept, marked as English
            with speaking("nb" if language == "nb" else "en"):
                cause = ngettext(
                    "Processing it failed %(num)d time", "Processing it failed %(num)d times", 5
                )
            await expect(row.locator(".cause")).to_have_text(cause)
            await expect(row.locator('code.reason[lang="en"]')).to_have_text(reason)
            await expect(row).to_contain_text("notifications")
            for service in ("listings", "matching", "contracts", "notifications"):
                await expect(page.locator(f'tr[data-service="{service}"]')).to_contain_text(
                    said(language, "working")
                )
            await check_page(page, f"console-system-{language}")

            await row.get_by_role("button", name=re.compile(said(language, "Replay"))).click()
            await expect(page.locator("#replayed")).to_contain_text("listings.events.v1")
            await check_page(page, f"console-replayed-{language}")
        finally:
            await made.close()

        # The consumer that had failed it takes it now: the company gets its note.
        assert await eventually(noted, timeout=60)


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_a_park_administrator_issues_a_partner_credentials_that_read_kafka(
    browser: Browser, stack: Stack, language: str
) -> None:
    admin_email = f"park-{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    partner = f"Østfold Transport {language.upper()} {uuid.uuid4().hex[:4]}"
    made = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
    try:
        page = await made.new_page()
        await page.goto("/sign-in")
        await submit_sign_in(page, admin_email)
        await expect(page).to_have_url(re.compile(r"/dashboard"))
        await page.get_by_role("link", name=said(language, "Partners"), exact=True).click()
        await expect(page).to_have_url(re.compile(r"/partners/?$"))
        await check_page(page, f"console-partners-{language}")

        # Nothing typed: the field says so, and nothing is issued.
        issue = page.get_by_role("button", name=said(language, "Issue credentials"))
        await issue.click()
        await expect(page.locator("#label-error")).to_have_text(
            said(language, "This field is required.")
        )
        await page.locator("#label").fill(partner)
        await issue.click()
        shown = page.get_by_role("status")
        await expect(shown).to_contain_text(partner)
        await check_page(page, f"console-partner-issued-{language}")
        facts = [await d.inner_text() for d in await shown.locator("dd code").all()]
        bootstrap, protocol, mechanism, username, password, topic = facts[:6]
        prefix = (await shown.locator("dd").last.inner_text()).split()[-1]
        row = page.locator("tbody tr", has_text=partner)
        await expect(row).to_contain_text(said(language, "active"))
        await expect(row).to_contain_text(username)
        assert password not in await row.inner_text()

        # The credentials the page showed once read the partner stream on the broker.
        consumer = AIOKafkaConsumer(
            topic,
            group_id=f"{prefix}portal-test",
            auto_offset_reset="earliest",
            bootstrap_servers=bootstrap,
            security_protocol=protocol,
            sasl_mechanism=mechanism,
            sasl_plain_username=username,
            sasl_plain_password=password,
        )
        await consumer.start()
        try:
            assert await consumer.getmany(timeout_ms=3000) is not None
        finally:
            await consumer.stop()

        # A reload shows the list again: the password is gone and nothing is issued twice.
        await page.reload()
        await expect(page.get_by_role("status")).to_have_count(0)
        assert password not in await page.locator("main").inner_text()
        await expect(row).to_have_count(1)
        await row.get_by_role("button", name=re.compile(said(language, "Revoke"))).click()
        await expect(row).to_contain_text(said(language, "revoked %(when)s", when="").strip())
        await check_page(page, f"console-partner-revoked-{language}")
    finally:
        await made.close()


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_the_console_shows_the_parks_companies_on_the_map_and_the_optimisers_plans(
    browser: Browser, stack: Stack, language: str
) -> None:
    company = await company_on_the_map(stack, f"Konsollsag {language.upper()} AS", language)
    admin_email = f"park-{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    made = await context(browser, stack, locale="nb-NO" if language == "nb" else "en-GB")
    try:
        page = await made.new_page()
        await page.goto("/sign-in")
        await submit_sign_in(page, admin_email)
        await expect(page).to_have_url(re.compile(r"/dashboard"))
        await page.get_by_role("link", name=said(language, "Companies"), exact=True).click()
        await expect(page).to_have_url(re.compile(r"/console/companies$"))
        row = page.locator(f'#companies tr[data-company="{company["company"]["id"]}"]')
        await expect(row).to_contain_text(company["name"])
        await expect(row).to_contain_text("B2")
        await shown_on_the_plan(page)
        dots = page.locator("[data-map] path.company")
        assert await dots.count() >= 1
        await check_page(page, f"console-companies-{language}")

        # A plan run from the dashboard is listed among the optimiser's plans.
        await page.goto("/dashboard")
        await page.get_by_role("button", name=said(language, "Run the optimiser")).click()
        await page.get_by_role("link", name=said(language, "The optimiser's plans")).click()
        await expect(page).to_have_url(re.compile(r"/console/plans$"))
        await expect(page.locator("#plans tbody tr[data-plan]").first).to_be_visible()
        await check_page(page, f"console-plans-{language}")
    finally:
        await made.close()
