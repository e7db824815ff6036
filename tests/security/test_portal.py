"""The portal's session, cookies and headers (issue 15, finding 8): no Content-Security-
Policy, frame, content-type-options, referrer or HSTS headers; cookies never `Secure`; a
session cookie that still worked after signing out. And the pages issue 15 adds for park
administrators (the audit log, permits to verify), in a real browser under the policy."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from playwright.async_api import Browser, ConsoleMessage, expect

from services.listings.config import ListingsSettings
from services.portal.app import create_app
from services.portal.client import Services
from services.portal.config import PortalSettings
from shared.auth import ensure_signing_keys
from tests.e2e.test_portal_browser import browser, context, shoot, submit_sign_in
from tests.security.probes import park_admin_token
from tests.support import Stack, org_number

__all__ = ["browser"]  # the module-scoped fixture, shared with the other browser tests

PASSWORD = "a long passphrase for the portal"
SECURITY_HEADERS = {
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
}


def csrf_of(response: httpx.Response) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', response.text)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.mark.e2e
async def test_every_portal_answer_carries_the_security_headers(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/sign-in", "/static/portal.css", "/no-such-page", "/listings"):
        response = await client.get(path)
        missing = SECURITY_HEADERS - set(response.headers)
        assert not missing, (path, response.status_code, missing)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # served over http here
    api = await client.get("/api/listings/health")
    assert api.headers["x-content-type-options"] == "nosniff"


@pytest.mark.e2e
async def test_a_session_cookie_is_worth_nothing_after_signing_out(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    email = f"leaver-{uuid.uuid4().hex[:8]}@example.no"
    registered = await client.post(
        "/api/listings/companies/",
        json={
            "name": "Cookie Copier AS",
            "org_number": org_number(),
            "admin": {"name": "Ada", "email": email, "password": PASSWORD},
        },
    )
    assert registered.status_code == 201
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as browser_like:
        form = await browser_like.get("/sign-in")
        signed_in = await browser_like.post(
            "/sign-in",
            data={"email": email, "password": PASSWORD, "_csrf_token": csrf_of(form)},
        )
        assert signed_in.status_code == 303, signed_in.text
        copied = dict(browser_like.cookies)
        page = await browser_like.get("/listings")
        assert page.status_code == 200
        out = await browser_like.post("/sign-out", data={"_csrf_token": csrf_of(page)})
        assert out.status_code == 303
    async with httpx.AsyncClient(base_url=stack.url, timeout=15, cookies=copied) as thief:
        replayed = await thief.get("/listings")
        assert replayed.status_code in (302, 303), replayed.text[:200]
        assert replayed.headers["location"].startswith("/sign-in")


def fake_services() -> Services:
    """The services' APIs as a signed-in company admin's would answer, without a network."""
    person, company = str(uuid.uuid4()), str(uuid.uuid4())

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/auth/token"):
            return httpx.Response(
                200,
                json={
                    "access_token": "a.token.for.the.test",
                    "token_type": "bearer",
                    "expires_in": 3600,
                    "person_id": person,
                    "company_id": company,
                    "role": "admin",
                },
            )
        if path.endswith("/people"):
            return httpx.Response(200, json=[])
        if path.endswith("/companies/me"):
            return httpx.Response(200, json={"name": "Secure AS"})
        if path.endswith("/people/me"):
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"status": 404, "title": "Not found"})

    return Services(
        {name: "http://upstream.invalid" for name in ("listings", "notifications")},
        transport=httpx.MockTransport(answer),
    )


async def test_over_https_every_cookie_is_secure_and_browsers_are_told_so(
    tmp_path: Path,
) -> None:
    settings = PortalSettings(data_dir=tmp_path, public_url="https://park.example")
    ensure_signing_keys(ListingsSettings(data_dir=tmp_path))
    app = create_app(settings, services=fake_services())
    async with AsyncTestClient(app=app, base_url="https://park.example") as portal:
        form = await portal.get("/sign-in")
        assert form.headers["strict-transport-security"].startswith("max-age=")
        signed_in = await portal.post(
            "/sign-in",
            data={"email": "a@example.no", "password": PASSWORD, "_csrf_token": csrf_of(form)},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        chosen = await portal.post(
            "/language",
            data={"language": "en", "next": "/", "_csrf_token": csrf_of(form)},
            follow_redirects=False,
        )
        assert chosen.status_code == 303
        set_cookies = [
            value
            for response in (form, signed_in, chosen)
            for value in response.headers.get_list("set-cookie")
        ]
        names = {cookie.split("=", 1)[0] for cookie in set_cookies}
        assert {"csrftoken", "vp_session", "lang"} <= names
        for cookie in set_cookies:
            attributes = [a.strip().lower() for a in cookie.split(";")]
            assert "secure" in attributes, cookie
            assert "httponly" in attributes or cookie.startswith("csrftoken"), cookie


# --- In a real browser, under the Content-Security-Policy -------------------------------


def no_policy_violations(messages: list[ConsoleMessage]) -> list[str]:
    return [m.text for m in messages if "Content Security Policy" in m.text or "CSP" in m.text]


@pytest.mark.e2e
async def test_a_permit_stated_verified_and_audited_in_the_browser(
    browser: Browser, stack: Stack
) -> None:
    email = f"permit-{uuid.uuid4().hex[:8]}@example.no"
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        registered = await http.post(
            "/api/listings/companies/",
            json={
                "name": "Hazard Handling AS",
                "org_number": org_number(),
                "admin": {"name": "Ada", "email": email, "password": PASSWORD, "language": "en"},
            },
        )
    company: dict[str, Any] = registered.json()
    messages: list[ConsoleMessage] = []

    made = await context(browser, stack)
    try:
        page = await made.new_page()
        page.on("console", lambda message: messages.append(message))
        await page.goto("/sign-in")
        await submit_sign_in(page, email)
        await expect(page).to_have_url(re.compile(r"/listings$"))
        await page.goto("/company")
        await page.get_by_label("Permit number").fill("2019.0421.T")
        await page.get_by_label("Issued by").fill("Statsforvalteren i Østfold")
        await page.get_by_label("Valid until").fill("2031-12-31")
        await page.get_by_label("Hazardous waste codes it covers").fill("19 08 13, 16 06 01")
        await page.get_by_role("button", name="State the permit").click()
        await expect(page.locator("#permit")).to_contain_text("waiting for the park to verify it")
        await shoot(page, "security-permit-stated")
    finally:
        await made.close()

    park_email = await _park_admin_email(stack)
    made = await context(browser, stack, locale="nb-NO")
    try:
        page = await made.new_page()
        page.on("console", lambda message: messages.append(message))
        await page.goto("/sign-in")
        await submit_sign_in(page, park_email, password="correct horse battery staple")
        await expect(page).to_have_url(re.compile(r"/dashboard$"))
        await page.get_by_role("link", name="Tillatelser").click()
        card = page.locator(f"#permit-{company['company']['id']}")
        await expect(card).to_contain_text("2019.0421.T")
        await expect(card).to_contain_text("19 08 13")
        await shoot(page, "security-permits-to-verify")
        await card.get_by_role("button", name=re.compile("^Bekreft")).click()
        await expect(card).to_have_count(0)
        await page.get_by_role("link", name="Revisjonslogg").click()
        row = page.locator("tr[data-action='permit.verified']").first
        await expect(row).to_contain_text("Tillatelse bekreftet")
        await expect(row).to_contain_text("Hazard Handling AS")
        await expect(page.locator("tr[data-action='permit.stated']").first).to_be_visible()
        await shoot(page, "security-audit-log")
    finally:
        await made.close()
    assert not no_policy_violations(messages), no_policy_violations(messages)


async def _park_admin_email(stack: Stack) -> str:
    from tests.security.probes import _park_admins

    park_admin_token(stack)
    return _park_admins[stack.url]
