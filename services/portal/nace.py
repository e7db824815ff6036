"""The NACE picker of the sign-up and profile forms: activities of the shipped list
(shared/data/nace.csv, through ``shared.knowledge.nace``) found by the digits of their code
or by words of their name. Pure, no I/O; the listings service still checks every code."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from shared.knowledge import nace

PICKER_LIMIT = 15
# Codes a company may give (shared/data/nace.csv also holds the letters of its sections).
_GIVEN = re.compile(r"^\d{2}(\.\d{1,3})?$")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Activity:
    """An activity as the picker shows it."""

    code: str
    name: str
    level: int


def activity_name(code: str, language: str = "en") -> str:
    """The name of the activity of ``code`` in ``language`` ("" when it is not in the list)."""
    found = nace().get(code)
    return found.named(language) if found else ""


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def find_activities(query: str, language: str = "en", limit: int = PICKER_LIMIT) -> list[Activity]:
    """The activities for what was typed: a code or its beginning (``16.1``, ``161``), or
    words all found in the name in either language (``sawmill``, ``sagbruk``), most specific
    first within a code's branch, named in ``language``. Nothing for an empty query."""
    text = query.strip().casefold()
    if not text:
        return []
    activities = [a for a in nace().values() if _GIVEN.match(a.code)]
    if re.fullmatch(r"[\d.\s]+", text):
        digits = _digits(text)
        hits = [a for a in activities if _digits(a.code).startswith(digits)]
    else:
        words = _WORD.findall(text)
        hits = [
            a
            for a in activities
            if all(w in a.name.casefold() for w in words)
            or all(w in a.name_nb.casefold() for w in words)
        ]
    hits.sort(key=lambda a: (_digits(a.code).ljust(5, "0"), a.level))
    return [Activity(a.code, a.named(language), a.level) for a in hits[:limit]]


def chosen_activities(codes: Iterable[str], language: str = "en") -> list[Activity]:
    """The codes a form holds, each with its name in ``language`` when the list has it."""
    return [
        Activity(code, activity_name(code, language), nace()[code].level if code in nace() else 0)
        for code in codes
    ]


def split_codes(text: str) -> list[str]:
    """The codes typed in the field, separated by commas, semicolons or spaces."""
    return [c for c in re.split(r"[\s,;]+", text) if c]
