"""Every message of the portal (code and templates) is translated in both catalogues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from services.portal.i18n import LANGUAGES, Language, _, catalogue_path, negotiate, speaking

PORTAL = Path(__file__).resolve().parents[2] / "services" / "portal"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def extracted() -> set[str | tuple[str, ...]]:
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    messages: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        PORTAL, METHODS, OPTIONS, keywords=keywords
    ):
        messages.add(message if isinstance(message, str) else tuple(message))
    return messages


MESSAGES = extracted()


def test_the_portal_has_messages_to_translate() -> None:
    assert len(MESSAGES) > 100
    assert "Sign in" in MESSAGES


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: Language) -> None:
    with catalogue_path(language).open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    missing, empty, placeholders = [], [], []
    for message in sorted(MESSAGES, key=str):
        entry = catalogue.get(message if isinstance(message, str) else message[0])
        if entry is None:
            missing.append(message)
            continue
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if not all(s.strip() for s in strings) or "fuzzy" in entry.flags:
            empty.append(message)
            continue
        ids = [message] if isinstance(message, str) else list(message)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        if any(set(PLACEHOLDER.findall(s)) != wanted for s in strings):
            placeholders.append(message)
    assert not missing, f"not in the {language} catalogue (run `make messages`): {missing}"
    assert not empty, f"untranslated in the {language} catalogue: {empty}"
    assert not placeholders, f"placeholders differ in the {language} catalogue: {placeholders}"


def test_the_language_follows_the_browser() -> None:
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert negotiate("de-DE,en;q=0.5,nb;q=0.8") == "nb"
    assert negotiate("nn-NO") == "nb"
    assert negotiate("fr") == "nb"
    assert negotiate(None) == "nb"
    assert negotiate("en;q=0, nb;q=0.1") == "nb"


def test_messages_are_read_in_the_chosen_language() -> None:
    with speaking("nb"):
        assert _("Sign in") == "Logg inn"
        assert _("Quantity (%(unit)s)", unit="tonn") == "Mengde (tonn)"
    with speaking("en"):
        assert _("Sign in") == "Sign in"
