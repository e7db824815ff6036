"""Issue 7's "done when", as a new user meets it: `symbiosis up --demo` (the README's first
command), the printed address in a browser, a demo company's administrator signs in with
the printed e-mail and password and completes a trade with a neighbour, and the park
administrator sees it on the dashboard, drawn on the plan of the park.

Screenshots go to screenshots/demo-*.png (git-ignored).
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.test_portal_browser import browser, shoot, submit_sign_in
from tests.e2e.test_portal_dashboard import figure
from tests.e2e.test_symbiosis_up import start_up, up_env, wait_for
from tests.support import free_port_block

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared with the other browser tests


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in"))
    await submit_sign_in(page, email, password)
    await expect(page).not_to_have_url(re.compile(r"/sign-in"))


async def test_a_new_user_trades_on_the_demo_park_in_the_browser(
    browser: Browser, tmp_path: Path
) -> None:
    port = free_port_block(11)
    env = up_env(tmp_path / "data", port)
    log = tmp_path / "up.log"
    process = start_up(env, log)
    try:
        output = wait_for(log, "Press Ctrl-C to stop.", process, timeout=180)
        url = f"http://127.0.0.1:{port}"
        printed = " ".join(output.split())
        keys: dict[str, Any] = json.loads((tmp_path / "data" / "demo-keys.json").read_text())
        boiler, sawmill = keys["bioenergi"]["admin"], keys["sagbruk"]["admin"]
        # what the README's first command prints is what a person signs in with
        assert f"Open {url}/ in a browser" in printed
        for person in (boiler, sawmill, keys["park_admin"]):
            assert f"{person['email']} / {person['password']}" in printed

        contexts = [
            await browser.new_context(
                base_url=url, locale="en-GB", viewport={"width": 1280, "height": 900}
            )
            for _ in range(3)
        ]
        for made in contexts:
            made.set_default_timeout(20_000)
        b, s, admin = [await made.new_page() for made in contexts]
        try:
            # The boiler's manager (bokmål, as the demo registered him) finds the bark that
            # the sawmill offers among the proposals and accepts the proposed terms.
            await sign_in(b, boiler["email"], boiler["password"])
            await expect(b.locator("html")).to_have_attribute("lang", "nb")
            await b.get_by_role("button", name="English").click()
            await expect(b.locator("html")).to_have_attribute("lang", "en")
            await b.goto("/proposals")
            bark = b.locator("#trade-list a", has_text="Spruce and pine bark")
            # the demo's proposals become negotiations a little after `up` is ready; the
            # list follows them as they come
            await expect(bark.first).to_be_visible(timeout=60_000)
            # the bottom ash goes at a gate fee (the boiler pays the concrete plant), in words
            ash = b.locator("#trade-list tr", has_text="Bottom ash")
            await expect(ash).to_contain_text("Gate fee NOK 275.00 per tonne, paid by the supplier")
            await shoot(b, "demo-proposals")
            await bark.first.click()
            await expect(b).to_have_url(re.compile(r"/negotiations/[0-9a-f-]{36}$"))
            negotiation = b.url.split(url, 1)[1]
            await expect(b.locator("main")).to_contain_text("Why the exchange proposes it")
            await expect(b.locator("main")).to_contain_text("Østfold Sagbruk AS")  # who offers
            # the matcher's reasons read in the person's language
            await expect(b.locator("main")).to_contain_text("same List of Waste code 03 01 01")
            await b.get_by_role("button", name="Norsk bokmål").click()
            await expect(b.locator("main")).to_contain_text("samme kode i avfallslisten: 03 01 01")
            await shoot(b, "demo-negotiation-nb")
            await b.get_by_role("button", name="English").click()
            await expect(b.locator("html")).to_have_attribute("lang", "en")
            await b.get_by_role("button", name="Accept these terms").click()
            await expect(b.locator("main")).to_contain_text(
                "You have accepted these terms; waiting for the other company."
            )

            # The sawmill accepts too: a contract. It records a delivery of 20 t.
            await sign_in(s, sawmill["email"], sawmill["password"])
            await s.get_by_role("button", name="English").click()
            await expect(s.locator("html")).to_have_attribute("lang", "en")
            await s.goto(negotiation)
            await s.get_by_role("button", name="Accept these terms").click()
            await expect(s.locator(".lead .status")).to_have_text("agreed")
            await s.get_by_role("link", name="Go to the contract").click()
            await expect(s).to_have_url(re.compile(r"/contracts/[0-9a-f-]{36}$"))
            contract = s.url.split(url, 1)[1]
            await s.get_by_label(re.compile(r"^Quantity \(")).fill("20")
            await s.get_by_label("Weighbridge note").fill("Weighbridge ticket 1001")
            await s.get_by_role("button", name="Record the delivery").click()
            await expect(s.locator("main table")).to_contain_text("recorded, awaiting confirmation")
            await shoot(s, "demo-contract-recorded")

            # The boiler confirms it, and its invoice arrives (through stripe-mock).
            await b.goto(contract)
            await b.get_by_role("button", name=re.compile("^Confirm")).click()
            await expect(b.locator("main table")).to_contain_text("confirmed")
            deadline = time.monotonic() + 60
            while True:
                await b.goto("/invoices")
                if await b.locator("main tbody a").count():
                    break
                assert time.monotonic() < deadline, "no invoice appeared within 60 s"
                await b.wait_for_timeout(1000)
            # 20 t of bark at the middle of 80 and 150 NOK/t (115), plus 25 % MVA
            await expect(b.locator("main tbody")).to_contain_text("NOK 2,875.00")
            await shoot(b, "demo-invoices")

            # The park administrator sees the trade on the dashboard, and on the plan.
            park = keys["park_admin"]
            await sign_in(admin, park["email"], park["password"])
            await admin.goto("/dashboard?preset=all")
            await admin.get_by_role("button", name="English").click()
            await expect(admin.locator("html")).to_have_attribute("lang", "en")
            assert await figure(admin, "tonnes_exchanged") == 20
            assert await figure(admin, "active_companies") == 2
            await expect(admin.locator("svg .exchange")).to_have_count(1)
            await expect(admin.locator("svg .company")).to_have_count(len(keys) - 1)
            flows = await admin.evaluate(
                "Chart.getChart('sankey-chart').data.datasets[0].data.map(l => l.flow)"
            )
            assert flows == [20, 20]
            await shoot(admin, "demo-dashboard")
        finally:
            for made in contexts:
                await made.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
