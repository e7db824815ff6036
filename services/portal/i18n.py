"""Norwegian bokmål and English: Babel catalogues (``locale/<lang>/LC_MESSAGES/messages.po``,
read at start-up) and the language of the request being served.

Code marks a message with ``_()`` (translated now) or ``N_()`` (translated where it is
shown); templates with ``{{ _("...") }}``. ``make messages`` extracts them into the
catalogues; tests/unit/test_portal_i18n.py fails on any message missing from either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, cast

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

Language = Literal["nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nb", "en")
DEFAULT_LANGUAGE: Language = "nb"
LANGUAGE_NAMES: dict[Language, str] = {"nb": "Norsk bokmål", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
# Norwegian in any written form reads bokmål best of the two.
_ALIASES = {"no": "nb", "nn": "nb", "nb": "nb", "en": "en"}

_current: ContextVar[Language] = ContextVar("portal_language", default=DEFAULT_LANGUAGE)


def catalogue_path(language: Language) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: Language) -> Translations:
    """The language's catalogue, compiled in memory from its .po file."""
    with catalogue_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def as_language(value: str | None) -> Language | None:
    """``nb``, ``no-NO`` or ``en_GB`` to one of ours; None for anything else."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    found = _ALIASES.get(primary)
    return cast("Language", found) if found else None


def negotiate(accept_language: str | None) -> Language:
    """The first of the browser's languages (by q-value) that we speak; else bokmål."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    for _quality, _position, tag in sorted(ranked):
        language = as_language(tag)
        if language is not None:
            return language
    return DEFAULT_LANGUAGE


def current_language() -> Language:
    return _current.get()


@contextmanager
def speaking(language: Language) -> Iterator[None]:
    """Translate into ``language`` inside the block."""
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def use_language(language: Language) -> None:
    """Translate into ``language`` for the rest of this request (its context)."""
    _current.set(language)


def gettext(message: str, **variables: Any) -> str:
    text = str(translations(_current.get()).gettext(message))
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = str(translations(_current.get()).ngettext(singular, plural, n))
    return text % {"num": n, **variables}


_ = gettext


def N_(message: str) -> str:
    """Marks a message for extraction; translated later, where it is shown."""
    return message
