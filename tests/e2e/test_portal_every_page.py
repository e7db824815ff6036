"""Every page of the portal, in bokmål and in English, in a real browser on the running
services: the GET routes are read from the portal's app itself, so a page added later is
visited without anyone remembering to; a route that is not a page (a download, a stream, a
fragment) is listed in NOT_PAGES with the reason. Path parameters are filled from what this
test makes itself: two companies, their listings, an open proposal, an agreed contract with a
confirmed delivery and its invoice, the inbox notes that follow, a webhook and a stated
permit. Company pages are visited as the company's administrator, the park office's as a
park administrator (with the pages its own menu links to), the rest signed out. Each page is
photographed into screenshots/ and checked by axe-core (no serious or critical violation)
and for words of the other language's catalogue."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from playwright.async_api import Browser, BrowserContext, Page, expect
from pydantic import SecretStr

from services.portal.app import create_app
from services.portal.config import PortalSettings
from services.portal.dashboard import park_admins_only
from services.portal.session import signed_in
from tests.e2e.portal_checks import SCREENSHOTS, axe_violations, other_language_on
from tests.e2e.test_accounts import make_park_admin
from tests.e2e.test_portal_browser import PASSWORD, browser, submit_sign_in
from tests.integration.test_webhooks import Receiver
from tests.support import Stack, bank_account, eventually, org_number

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

LANGUAGES = ("nb", "en")

# GET routes that are not pages a person reads, and why they are not visited here.
NOT_PAGES: dict[str, str] = {
    "/health": "the readiness probe's JSON",
    "/metrics": "Prometheus' text format, for the portal's own port",
    "/favicon.ico": "a redirect to the icon",
    "/static/{file_path:path}": "the portal's scripts, styles and vendored libraries",
    "/inbox/stream": "the inbox's server-sent events, followed by the inbox page",
    "/waste-codes": "the waste-code picker's htmx fragment, checked inside /listings/new",
    "/listings/properties": "the quality rows' htmx fragment, checked inside /listings/new "
    "(test_portal_quality)",
    "/nace-codes": "the NACE picker's htmx fragment, checked inside /settings/profile "
    "(test_portal_company_settings) and /sign-up",
    "/deliveries/{delivery_id:uuid}/declaration.pdf": "a PDF (its words: test_trade_papers)",
    "/deliveries/{delivery_id:uuid}/note.pdf": "a PDF (its words: test_trade_papers)",
    "/invoices/{invoice_id:uuid}/{paper:str}": "the invoice's PDF and EHF XML downloads",
    "/report/{kind:str}": "the report's PDF and CSV downloads",
    "/dashboard/csv/{table:str}": "the dashboard's tables as CSV downloads",
}
# Routes that only send the browser on to another page (which is checked on its own).
REDIRECTS: dict[str, str] = {
    "/": "the person's home page (or the sign-in page)",
    "/console": "the console's first page, /console/system",
}
# More than one visit of a route: the states a page has beside its plain one.
VARIANTS: dict[str, list[str]] = {
    "/listings/new": ["/listings/new?kind=offer", "/listings/new?kind=need"],
    "/search": ["/search", "/search?q={search}"],
    "/join": ["/join", "/join?token=not-a-real-invitation-token-0000"],
    "/confirm": ["/confirm?token=not-a-real-confirmation-token-000"],
}
# Addresses no route answers: the error page, for each kind of visitor.
MISSING = "/no-such-page"


@dataclass(frozen=True)
class Route:
    path: str
    audience: str  # "public", "company" or "park"


def page_routes() -> list[Route]:
    """The portal's GET routes, read from its app, with who may see each (by its guards)."""
    app = create_app(PortalSettings(portal_session_secret=SecretStr("x" * 40)))
    found: list[Route] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "GET" not in handler.http_methods or route.path in NOT_PAGES:
                continue
            assert isinstance(handler, HTTPRouteHandler)
            guards = [g for layer in handler.ownership_layers for g in layer.guards or ()]
            if park_admins_only in guards:
                audience = "park"
            elif signed_in in guards:
                audience = "company"
            elif not guards:
                audience = "public"
            else:
                raise AssertionError(
                    f"{route.path} has guards this test does not know ({guards}): "
                    "say who may see it in page_routes()"
                )
            found.append(Route(route.path, audience))
    return found


_PARAMETER = re.compile(r"\{(\w+):(\w+)\}")


def addresses(route: Route, objects: dict[str, list[str]]) -> Iterator[str]:
    """The addresses to visit for the route: its variants, each path parameter filled with
    every object of its name that the test made."""
    templates = VARIANTS.get(route.path, [route.path])
    for template in templates:
        names = _PARAMETER.findall(template)
        if not names:
            yield template.format(**{k: v[0] for k, v in objects.items()})
            continue
        assert len(names) == 1, f"{template}: fill more than one parameter here"
        name = names[0][0]
        assert name in objects, (
            f"{route.path}: the test makes nothing for {{{name}}}; make one in "
            "made_for_the_pages() or list the route in NOT_PAGES with why"
        )
        for value in objects[name]:
            yield _PARAMETER.sub(value, template)


def profile(name: str, language: str, plot: str, where: tuple[float, float]) -> dict[str, Any]:
    return {
        "name": name,
        "org_number": org_number(),
        "nace_codes": ["23.61"],
        "address": {"street": "Tofteberg 7", "postcode": "1617", "city": "Fredrikstad"},
        "location": {"plot": plot, "latitude": where[0], "longitude": where[1]},
        "bank_account": bank_account(),
        "admin": {
            "name": f"Admin {name}",
            "email": f"pages-{uuid.uuid4().hex[:8]}@{name.split()[0].lower()}.example",
            "password": PASSWORD,
            "language": language,
        },
    }


def sand(kind: str, code: str, title: str, tonnes: int, price_nok: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "ewc_code": code,
        "title": title,
        "quantity": str(tonnes),
        "unit": "t",
        "price_per_unit_ore": price_nok * 100,
        "location": {"plot": "C2", "latitude": 59.2475, "longitude": 11.0335},
    }


async def made_for_the_pages(
    client: httpx.AsyncClient, hook_url: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Two companies trading by API (an agreed contract with a confirmed, invoiced
    delivery, and an open proposal), a webhook and a stated permit. Returns the
    supplier (whose pages are visited) and the objects to fill path parameters with."""
    tag = uuid.uuid4().hex[:6]
    companies = []
    for name, plot, where in (
        (f"Sidesand {tag} AS", "B2", (59.2490, 11.0330)),
        (f"Sideteglverk {tag} AS", "C3", (59.2470, 11.0340)),
    ):
        body = profile(name, "nb", plot, where)
        made = await client.post("/api/listings/companies/", json=body)
        assert made.status_code == 201, made.text
        companies.append(
            {
                "name": name,
                "email": body["admin"]["email"],
                **made.json(),
                "headers": {"Authorization": f"Bearer {made.json()['api_key']}"},
            }
        )
    supplier, receiver = companies

    async def listing(who: dict[str, Any], body: dict[str, Any]) -> str:
        posted = await client.post("/api/listings/listings/", json=body, headers=who["headers"])
        assert posted.status_code == 201, posted.text
        return str(posted.json()["id"])

    sold = f"Vasket sand {tag}"
    offered = f"Steinstøv fra saging {tag}"
    offer = await listing(supplier, sand("offer", "01 04 09", sold, 30, 100))
    await listing(receiver, sand("need", "01 04 09", f"Sand til teglverket {tag}", 20, 300))
    sawn = await listing(supplier, sand("offer", "01 04 13", offered, 10, 50))
    await listing(receiver, sand("need", "01 04 13", f"Fyllmasse {tag}", 10, 80))

    async def negotiation(title: str) -> dict[str, Any] | None:
        rows = (
            await client.get("/api/contracts/negotiations/", headers=receiver["headers"])
        ).json()
        return next(
            (
                n
                for n in rows
                if n["title"] == title and n["supplier_company_id"] == supplier["company"]["id"]
            ),
            None,
        )

    agreed = await eventually(lambda: negotiation(sold), timeout=60)
    still_open = await eventually(lambda: negotiation(offered), timeout=60)
    accept = f"/api/contracts/negotiations/{agreed['id']}/accept"
    terms = {"terms_id": agreed["terms"]["id"]}
    first = await client.post(accept, json=terms, headers=receiver["headers"])
    assert first.status_code == 200, first.text
    second = await client.post(accept, json=terms, headers=supplier["headers"])
    assert second.status_code == 200, second.text
    contract = str(second.json()["contract_id"])
    delivery = await client.post(
        f"/api/contracts/contracts/{contract}/deliveries",
        json={"quantity": "12", "delivered_on": date.today().isoformat()},
        headers=supplier["headers"],
    )
    assert delivery.status_code == 201, delivery.text
    confirmed = await client.post(
        f"/api/contracts/deliveries/{delivery.json()['id']}/confirm", headers=receiver["headers"]
    )
    assert confirmed.status_code == 200, confirmed.text

    async def invoice() -> str | None:
        rows = (await client.get("/api/contracts/invoices/", headers=supplier["headers"])).json()
        return next((str(i["id"]) for i in rows if i["contract_id"] == contract), None)

    invoice_id = await eventually(invoice, timeout=60)

    hook = await client.post(
        "/api/notifications/webhooks/endpoints",
        json={"url": hook_url, "description": "ERP", "event_types": ["trade.proposed"]},
        headers=supplier["headers"],
    )
    assert hook.status_code == 201, hook.text
    permit = await client.put(
        "/api/listings/companies/me/permit",
        json={
            "number": f"2026.{tag}.T",
            "authority": "Statsforvalteren i Østfold, Buskerud, Oslo og Akershus",
            "valid_until": "2035-12-31",
            "waste_codes": ["16 06 01"],
        },
        headers=supplier["headers"],
    )
    assert permit.status_code == 200, permit.text

    async def noted() -> bool:
        notes = (await client.get("/api/notifications/inbox/", headers=supplier["headers"])).json()
        return len(notes) >= 2

    await eventually(noted, timeout=60)
    objects = {
        "listing_id": [offer, sawn],  # its own (another company's is not its to see: 404)
        "negotiation_id": [str(still_open["id"]), str(agreed["id"])],
        "contract_id": [contract],
        "invoice_id": [invoice_id],
        "endpoint_id": [str(hook.json()["id"])],
        "search": ["Vasket+sand"],
    }
    return supplier, objects


async def new_context(browser: Browser, stack: Stack, language: str) -> BrowserContext:
    """A browser speaking ``language`` (the portal's language cookie, as its switch sets)."""
    made = await browser.new_context(
        base_url=stack.url,
        locale="nb-NO" if language == "nb" else "en-GB",
        viewport={"width": 1280, "height": 900},
    )
    made.set_default_timeout(20_000)
    await made.add_cookies([{"name": "lang", "value": language, "url": stack.url}])
    return made


async def visit(page: Page, address: str, route: Route, name: str, language: str) -> list[str]:
    """Open the page; what is wrong with it (nothing: an empty list)."""
    problems: list[str] = []
    answer = await page.goto(address, wait_until="load")
    status = answer.status if answer else 0
    if route.path in REDIRECTS:
        return [] if status == 200 and urlsplit(page.url).path != address else ["no redirect"]
    expected = 404 if route.path == MISSING else 200
    if status != expected:
        problems.append(f"answered {status}, not {expected}")
    landed = urlsplit(page.url).path
    if landed != address.split("?")[0]:
        problems.append(f"went on to {landed}")
    lang = await page.locator("html").get_attribute("lang")
    if lang != language:
        problems.append(f'<html lang="{lang}">, not {language}')
    if await page.locator("[data-map]").count():
        await expect(page.locator("[data-map]").first).to_have_attribute(
            "data-ready", "1", timeout=20_000
        )
    await page.screenshot(path=str(SCREENSHOTS / f"page-{name}.png"), full_page=True)
    violations = await axe_violations(page)
    if violations:
        problems.append(f"axe-core: {violations}")
    foreign = await other_language_on(page)
    if foreign:
        problems.append(f"words of the other language: {foreign}")
    return problems


def shot_name(audience: str, language: str, address: str) -> str:
    words = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "ID", address.strip("/")) or "home"
    return f"{audience}-{language}-" + re.sub(r"[^A-Za-z0-9]+", "-", words).strip("-")


@pytest.mark.timeout(900)  # a trade to its invoice, then some 90 pages with axe-core
async def test_every_page_in_both_languages_is_accessible_and_speaks_one_language(
    browser: Browser, stack: Stack
) -> None:
    started = time.monotonic()
    routes = page_routes()
    assert {r.audience for r in routes} == {"public", "company", "park"}, routes
    SCREENSHOTS.mkdir(exist_ok=True)
    admin_email = f"park-{uuid.uuid4().hex[:8]}@vikenpark.example"
    make_park_admin(stack, admin_email, PASSWORD)
    async with Receiver() as receiver, httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        company, objects = await made_for_the_pages(client, receiver.url("/hook"))
    prepared = time.monotonic()

    found: dict[str, list[str]] = {}
    visited: set[tuple[str, str]] = set()
    named: set[str] = set()
    count = 0

    async def check(page: Page, route: Route, address: str, audience: str, language: str) -> None:
        if (audience, address) in visited:
            return
        visited.add((audience, address))
        nonlocal count
        count += 1
        name = shot_name(audience, language, address)
        while name in named:  # two objects of one route: /listings/ID, /listings/ID-2
            name = re.sub(r"(-(\d+))?$", lambda m: f"-{int(m.group(2) or 1) + 1}", name, count=1)
        named.add(name)
        problems = await visit(page, address, route, name, language)
        if problems:
            found[f"{name} ({address})"] = problems

    for language in LANGUAGES:
        visited.clear()
        for audience in ("public", "company", "park"):
            made = await new_context(browser, stack, language)
            try:
                page = await made.new_page()
                if audience != "public":
                    await page.goto("/sign-in")
                    email = company["email"] if audience == "company" else admin_email
                    await submit_sign_in(page, email)
                    await expect(page).not_to_have_url(re.compile(r"/sign-in"))
                for route in routes:
                    if route.audience == audience:
                        for address in addresses(route, objects):
                            await check(page, route, address, audience, language)
                if audience == "park":
                    # The pages open to everyone signed in that the park office's menu links to.
                    await page.goto("/dashboard")
                    linked = await page.locator("header nav a[href^='/']").evaluate_all(
                        "links => links.map(a => a.getAttribute('href'))"
                    )
                    for route in routes:
                        if route.audience == "company" and route.path in linked:
                            await check(page, route, route.path, audience, language)
                await check(page, Route(MISSING, audience), MISSING, audience, language)
            finally:
                await made.close()

    seconds = time.monotonic() - started
    print(
        f"\n{count} page visits checked in {seconds:.1f} s "
        f"({prepared - started:.1f} s making the objects)"
    )
    assert not found, "\n".join(f"{page}: {'; '.join(p)}" for page, p in found.items())
