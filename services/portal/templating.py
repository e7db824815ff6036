"""The Jinja2 environment of the portal's pages: gettext in the request's language, and
filters that write amounts, quantities and dates as a Norwegian or an English reader
expects them."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.contrib.jinja import JinjaTemplateEngine
from markupsafe import Markup

from services.portal import plan
from services.portal.forms import number as number_typed
from services.portal.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    current_language,
    translations,
)
from services.portal.nace import chosen_activities, split_codes
from services.portal.reasons import in_words
from services.portal.vocabulary import per_unit, property_unit, property_words, word
from shared.ewc import description, spaced
from shared.knowledge import activity_name, listing_resources, precedents, prose
from shared.reasons import known as known_reason

TEMPLATES = Path(__file__).parent / "templates"
OSLO = ZoneInfo("Europe/Oslo")
NOTHING = "\u2013"  # an en dash where there is no value
_LOCALES = {"nb": "nb_NO", "en": "en_GB"}


def _locale() -> str:
    return _LOCALES[current_language()]


def _gettext(message: str) -> str:
    return str(translations(current_language()).gettext(message))


def _ngettext(singular: str, plural: str, n: int) -> str:
    return str(translations(current_language()).ngettext(singular, plural, n))


def _as_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def number(value: Any, digits: int = 3) -> str:
    """``1234.5`` as ``1 234,5`` (nb) or ``1,234.5`` (en)."""
    amount = _as_decimal(value)
    if amount is None:
        return NOTHING
    return format_decimal(amount, format=f"#,##0.{'#' * digits}", locale=_locale())


def nok(ore_amount: Any) -> str:
    """øre as kroner: ``kr 1 234,50`` or ``NOK 1,234.50``."""
    amount = _as_decimal(ore_amount)
    if amount is None:
        return NOTHING
    kroner = format_decimal(amount / 100, format="#,##0.00", locale=_locale())
    return f"kr {kroner}" if current_language() == "nb" else f"NOK {kroner}"


def _parse(value: Any) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def day(value: Any) -> str:
    parsed = _parse(value)
    if parsed is None:
        return NOTHING
    if isinstance(parsed, datetime):
        parsed = parsed.astimezone(OSLO).date() if parsed.tzinfo else parsed.date()
    return format_date(parsed, format="medium", locale=_locale())


def moment(value: Any) -> str:
    parsed = _parse(value)
    if parsed is None:
        return NOTHING
    if not isinstance(parsed, datetime):
        return day(parsed)
    return format_datetime(parsed, format="short", tzinfo=OSLO, locale=_locale())


DATE_FORMATS = {"nb": "dd.MM.yyyy", "en": "dd/MM/yyyy"}


def date_input(value: Any) -> str:
    """A date as the page's language types it (``31.12.2026``, ``31/12/2026``); anything
    that is not an ISO date (what the person typed) as it is."""
    text = "" if value is None else str(value)
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        return text
    return format_date(parsed, format=DATE_FORMATS[current_language()], locale=_locale())


_MACHINE_DECIMAL = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def decimal_input(value: Any) -> str:
    """A number as the page's language types it in a field, without grouping (``59,2134``
    on a bokmål page, ``59.2134`` on an English one); what the person typed (anything
    that is not a number as the services write it) as it is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    text = str(value).strip()
    if not isinstance(value, int | float | Decimal) and not _MACHINE_DECIMAL.match(text):
        return str(value)
    amount = _as_decimal(text)
    if amount is None or not amount.is_finite():
        return str(value)
    shown = format_decimal(amount, format="0.##########", locale=_locale())
    return shown.replace("\u2212", "-")  # a minus sign people can type back


def coordinate(value: Any) -> float | None:
    """A latitude or longitude as the services write it or as a person typed it (``59,2134``
    or ``59.2134``); None when it is none."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(number_typed(str(value)))
    except ValueError:
        return None


def date_example() -> str:
    return date_input(date(2026, 12, 31).isoformat())


def ewc(code: Any) -> str:
    """``030105`` as ``03 01 05``."""
    text = str(code or "")
    return spaced(text)


def waste(code: Any) -> str:
    """A List of Waste code's description in the page's language (in bokmål: the team's
    translation, see shared/data/README.md)."""
    return description(str(code or ""), current_language())


def activity(code: Any) -> str:
    """A NACE code's name in the page's language."""
    return activity_name(str(code or ""), current_language())


def knowledge_text(text: Any) -> str:
    """A basis, source or treatment from the knowledge base in the page's language."""
    return prose(str(text or ""), current_language())


def typed_text(text: Any) -> Markup:
    """What people wrote themselves (a company's or person's name, a title, a note, a reason
    they typed) where it stands among the page's own words: marked ``translate="no"``, so
    that a browser's translator leaves it as written and the browser tests' one-language
    check does not take a company's English title on a bokmål page for the portal's."""
    if text is None or text == "":
        return Markup("")
    return Markup('<span translate="no">{}</span>').format(text)


def stated_reason(text: Any, detail: Any, typed: Any = None) -> Markup:
    """Why a contract ended or an invoice was credited, as the contracts API gives it: the
    exchange's part from its code in the page's language, then what a person wrote marked
    as ``typed`` marks it; a row made before reasons had codes (or with a code this portal
    does not know yet) shows its English text, marked ``lang="en"`` so that a reader (and a
    screen reader) knows it for English."""
    if isinstance(detail, Mapping) and known_reason(str(detail.get("code"))):
        said = Markup.escape(in_words(detail))
        return said + Markup(": ") + typed_text(typed) if typed else said
    if text is None or text == "":
        return Markup("")
    return Markup('<span lang="en">{}</span>').format(text)


def quoting(text: Any, typed: Any) -> Markup:
    """A text of the exchange's that quotes what people wrote (``typed``: an inbox note's
    listing title, a receiver's note), each quoted part marked as ``typed`` marks it."""
    written = "" if text is None else str(text)
    quoted = sorted({str(t) for t in (typed or ()) if t}, key=len, reverse=True)
    if not quoted:
        return Markup.escape(written)
    alternatives = "|".join(re.escape(t) for t in quoted)
    pieces = re.split(rf"((?<!\w)(?:{alternatives})(?!\w))", written)
    # re.split with one group: the text between matches at even places, matches at odd ones
    return Markup("").join(
        typed_text(piece) if i % 2 else Markup.escape(piece) for i, piece in enumerate(pieces)
    )


def precedent_place(place: Any) -> str:
    """Where a documented exchange took place (the API says it in English), in the page's
    language."""
    if current_language() == "nb":
        return _places_nb().get(str(place), str(place))
    return str(place)


@functools.cache
def _places_nb() -> dict[str, str]:
    return {p.place: p.place_nb for p in precedents()}


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        number=number,
        nok=nok,
        day=day,
        moment=moment,
        ewc=ewc,
        waste=waste,
        activity=activity,
        knowledge=knowledge_text,
        word=word,
        typed=typed_text,
        quoting=quoting,
        per=per_unit,
        date_input=date_input,
        decimal_input=decimal_input,
        coordinate=coordinate,
        reason=in_words,
        stated_reason=stated_reason,
        quality_name=quality_name,
        property_unit=property_unit,
        precedent_place=precedent_place,
    )
    env.globals.update(
        language=current_language,
        LANGUAGES=LANGUAGES,
        LANGUAGE_NAMES=LANGUAGE_NAMES,
        plan=plan,
        date_example=date_example,
        park_map=park_map,
        place=plan.marker,
        nace_chosen=lambda text: chosen_activities(
            split_codes(str(text or "")), current_language()
        ),
    )
    return env


def quality_name(name: Any, listing: Mapping[str, Any]) -> str:
    """A listing's quality property in words, as its resource names it."""
    resources = listing_resources(
        listing.get("ewc_code"),
        listing.get("resource_class"),
        listing.get("use"),
        listing.get("accepts") or [],
    )
    return property_words(name, resources)


def park_map(**what: Any) -> dict[str, Any]:
    """The data of a map of the park (plan.map_data), its tiles' credit in the reader's
    language."""
    link = f'<a href="{plan.COPYRIGHT}">OpenStreetMap</a>'
    credit = "© " + _gettext(N_("%(openstreetmap)s contributors")) % {"openstreetmap": link}
    texts = {"zoom_in": _gettext(N_("Zoom in")), "zoom_out": _gettext(N_("Zoom out"))}
    return plan.map_data(credit, **what) | {"texts": texts}


def template_engine() -> JinjaTemplateEngine:
    return JinjaTemplateEngine.from_environment(environment())
