"""Pages every reader meets whatever they ask for: the error pages in the reader's
language, the icon browsers ask for, and dates typed and shown as the page's language
writes them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient

from services.notifications.email import EVENT_TYPES
from services.portal.app import PAGES, create_app
from services.portal.forms import day
from services.portal.i18n import _, speaking
from services.portal.settings import KINDS, change_from, kinds_in_order
from services.portal.templating import TEMPLATES, date_input
from services.portal.trades import PAGE_SIZE, SORTS, page_of, sort_trades
from services.portal.webhooks import endpoint_body


@pytest.mark.parametrize(("accept", "language"), [("en-GB,en;q=0.9", "en"), ("nb-NO", "nb")])
def test_an_address_no_page_answers_speaks_the_readers_language(accept: str, language: str) -> None:
    words = {}
    for each in ("nb", "en"):
        with speaking(each):
            words[each] = _("There is no such page.")
    other = "nb" if language == "en" else "en"
    with TestClient(create_app()) as client:
        page = client.get("/no-such-page", headers={"accept-language": accept})
    assert page.status_code == 404
    assert f'<html lang="{language}"' in page.text
    assert words[language] in page.text
    assert words[other] not in page.text


def test_the_icon_browsers_ask_for_is_there() -> None:
    with TestClient(create_app()) as client:
        asked = client.get("/favicon.ico", follow_redirects=False)
        assert asked.status_code == 301
        icon = client.get(asked.headers["location"])
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize(
    "typed", ["31.12.2026", "31/12/2026", "31-12-2026", "31.12.26", " 31. 12. 2026", "2026-12-31"]
)
def test_dates_are_read_as_people_type_them(typed: str) -> None:
    assert day(typed) == date(2026, 12, 31)


@pytest.mark.parametrize("typed", ["12/31/2026", "31.13.2026", "next friday", "", "2026"])
def test_what_is_not_a_date_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        day(typed)


def test_dates_are_shown_as_the_pages_language_writes_them() -> None:
    with speaking("nb"):
        assert date_input("2026-12-01") == "01.12.2026"
        assert date_input("3.4.26") == "3.4.26"
    with speaking("en"):
        assert date_input("2026-12-01") == "01/12/2026"
        assert date_input(None) == ""


def test_every_email_the_exchange_sends_has_words_on_the_settings_page() -> None:
    assert set(KINDS) == set(EVENT_TYPES)
    with speaking("nb"):
        kinds = kinds_in_order({"email": {"invoice.paid": True, "x.new": False}})
    assert kinds == [("invoice.paid", "En faktura betales", True), ("x.new", "x.new", False)]


def test_only_the_boxes_changed_become_choices_of_ones_own() -> None:
    current = {"trade.proposed": True, "invoice.issued": True, "invoice.voided": False}
    form = {"email.invoice.issued": "1", "email.invoice.voided": "1", "daily_digest": "1"}
    assert change_from(form, current, digest=True) == {
        "email": {"trade.proposed": False, "invoice.voided": True},
        "daily_digest": True,
    }
    assert change_from({}, {"trade.proposed": False}, digest=False) == {"email": {}}


def trade(title: str, status: str, updated: str) -> dict[str, Any]:
    return {"title": title, "status": status, "updated_at": f"2026-12-{updated}T10:00:00Z"}


def test_proposals_sort_open_first_newest_or_by_title() -> None:
    trades = [
        trade("bark", "agreed", "03"),
        trade("Ash", "open", "01"),
        trade("chips", "open", "02"),
    ]
    titles = {s: [t["title"] for t in sort_trades(trades, s)] for s in SORTS}
    assert titles == {
        "open": ["chips", "Ash", "bark"],
        "newest": ["bark", "chips", "Ash"],
        "title": ["Ash", "bark", "chips"],
    }


def test_long_lists_of_proposals_come_a_page_at_a_time() -> None:
    trades = [trade(f"t{i}", "open", "01") for i in range(PAGE_SIZE * 2 + 3)]
    shown, page, pages = page_of(trades, 3)
    assert (len(shown), page, pages) == (3, 3, 3)
    assert page_of(trades, 99)[1:] == (3, 3)
    assert page_of(trades, -1)[0] == trades[:PAGE_SIZE]
    assert page_of([], 1) == ([], 1, 1)


def test_every_page_handler_says_what_it_answers() -> None:
    """A handler annotated ``Any`` has its template sent as text/plain: the person sees
    the page's HTML source (it happened to refusals on the partners and company pages)."""
    vague = [
        f"{controller.__name__}.{name}"
        for controller in PAGES
        if isinstance(controller, type)
        for name, handler in vars(controller).items()
        if isinstance(handler, HTTPRouteHandler)
        and handler.fn.__annotations__.get("return") in ("Any", Any)
    ]
    assert not vague


def test_a_webhook_form_says_what_is_missing_and_keeps_the_events_in_order() -> None:
    with speaking("en"):
        body, errors = endpoint_body({"url": " "}, [])
    assert errors is not None
    assert errors.fields == {
        "url": "This field is required.",
        "event_types": "Choose at least one event.",
    }
    body, errors = endpoint_body(
        {"url": "https://erp.example.no/hook", "description": ""},
        ["invoice.paid", "x.unknown", "trade.proposed"],
    )
    assert errors is None
    assert body == {
        "url": "https://erp.example.no/hook",
        "description": None,
        "event_types": ["trade.proposed", "invoice.paid"],
    }


def test_a_companys_address_and_place_are_one_partial_on_sign_up_and_profile() -> None:
    """The sign-up and the profile forms include the same fields, written once."""
    templates = Path(TEMPLATES)
    for marker in ("autocomplete=street-address", '_("Where the company is in the park")'):
        holding = sorted(
            str(p.relative_to(templates))
            for p in templates.rglob("*.html")
            if marker in p.read_text()
        )
        assert len(holding) == 1 and holding[0].startswith("partials/"), (marker, holding)
    for form in ("account/sign_up.html", "account/profile.html"):
        text = (templates / form).read_text()
        assert '{% include "partials/address.html" %}' in text
        assert '{% include "partials/company_place.html" %}' in text
