"""Finding a resource by the words people use: List of Waste codes by their digits or their
description (in English or in the team's bokmål), and codes and classes by everyday words
and synonyms in bokmål and English (``shared/data/waste-words.csv``: gips, slam, aske,
sagflis, fiskeslo, myse, gjødsel, yeast, molasses, ...), forgiving of typos and inflected
forms (rapidfuzz)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rapidfuzz import fuzz, process, utils

from shared.ewc import catalogue, normalise, spaced
from shared.resources import RESOURCE_CLASSES

WORDS_FILE = Path(__file__).parent / "data" / "waste-words.csv"
LIMIT = 15
# A word typed matches a known word at this similarity (0-100): "gipsen" and "gibs" find
# "gips", "slammet" finds "slam", "fertilizer" finds "fertiliser".
WORD_SCORE = 75
DESCRIPTION_SCORE = 88


@dataclass(frozen=True)
class Hit:
    """A resource found for what was typed: a code (``030105``) or ``class:<name>``."""

    resource: str
    label: str
    label_nb: str
    hazardous: bool
    matched: str  # the word or description that matched
    score: float

    @property
    def display(self) -> str:
        if self.resource.startswith("class:"):
            return self.resource
        return spaced(self.resource) + ("*" if self.hazardous else "")


@cache
def words() -> dict[str, tuple[str, ...]]:
    """Everyday word (lower case) → the resources it names."""
    table: dict[str, list[str]] = {}
    with WORDS_FILE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            word = row["word"].strip().lower()
            for resource in row["resources"].split():
                known = (
                    resource.removeprefix("class:") in RESOURCE_CLASSES
                    if resource.startswith("class:")
                    else resource in catalogue()
                )
                if not known:
                    raise ValueError(f"{WORDS_FILE.name}: {resource!r} for {word!r} is unknown")
                table.setdefault(word, [])
                if resource not in table[word]:
                    table[word].append(resource)
    return {word: tuple(found) for word, found in table.items()}


def _hit(resource: str, matched: str, score: float) -> Hit:
    if resource.startswith("class:"):
        kind = RESOURCE_CLASSES[resource.removeprefix("class:")]
        return Hit(resource, kind.label, kind.label_nb or kind.label, False, matched, score)
    entry = catalogue()[resource]
    return Hit(resource, entry.description, entry.description_nb, entry.hazardous, matched, score)


def _description_score(text: str, typed: list[str], description: str) -> float | None:
    """How well what was typed matches a description (lower case), or None."""
    if text in description:
        return 101.0
    if all(w in description for w in typed):
        return 100.0
    score = float(fuzz.token_set_ratio(text, description, processor=utils.default_process))
    return score if score >= DESCRIPTION_SCORE else None


def find(query: str, limit: int = LIMIT) -> list[Hit]:
    """Codes and classes for what was typed, best first: a code's leading digits; else
    everyday words (fuzzy), then the List of Waste's descriptions (every word typed, or
    near enough)."""
    text = query.strip().lower()
    if not text:
        return []
    entries = [e for e in catalogue().values() if len(e.code) == 6]
    digits = normalise(text)
    if digits.isdigit():
        return [_hit(e.code, e.code, 100.0) for e in entries if e.code.startswith(digits)][:limit]
    found: dict[str, Hit] = {}
    vocabulary = words()
    for word, score, _ in process.extract(
        text, list(vocabulary), scorer=fuzz.WRatio, processor=utils.default_process, limit=8
    ):
        if score < WORD_SCORE or abs(len(word) - len(text)) > max(4, len(word)):
            continue
        for resource in vocabulary[word]:
            found.setdefault(resource, _hit(resource, word, float(score) + 1))
    typed = re.findall(r"\w+", text)
    for entry in entries:
        best: tuple[float, str] | None = None
        for description in (entry.description, entry.description_nb):
            found_score = _description_score(text, typed, description.lower())
            if found_score is not None and (best is None or found_score > best[0]):
                best = (found_score, description)
        if best is not None:
            found.setdefault(entry.code, _hit(entry.code, best[1], best[0] - 1))
    ranked = sorted(found.values(), key=lambda h: (-h.score, h.resource))
    return ranked[:limit]
