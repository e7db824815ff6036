"""The European List of Waste (EWC codes), as shipped in ``shared/data/ewc-codes.csv``: the
English texts as published, and the team's bokmål translation of each (``*_nb``; not the
official Norwegian text, which is the annex to chapter 11 of avfallsforskriften).

Contains public sector information licensed under the Open Government Licence v3.0.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

EWC_FILE = Path(__file__).parent / "data" / "ewc-codes.csv"
ATTRIBUTION = "Contains public sector information licensed under the Open Government Licence v3.0."
# Where the official Norwegian text of the list is (the team's translation is not it).
OFFICIAL_NB = "avfallsforskriften, vedlegg 1 til kapittel 11 (lovdata.no)"
_TRANSLATED = ("chapter", "sub_chapter", "description")


def spaced(code: str) -> str:
    """A six-digit code as people write it, ``03 01 05``; anything else as it is."""
    return f"{code[:2]} {code[2:4]} {code[4:]}" if len(code) == 6 else code


@dataclass(frozen=True)
class WasteCode:
    code: str
    description: str
    hazardous: bool
    entry_type: str
    chapter: str
    sub_chapter: str
    # The team's bokmål translation (see shared/data/README.md), never empty.
    description_nb: str
    chapter_nb: str
    sub_chapter_nb: str

    def described(self, language: str) -> str:
        """The entry's description in ``language`` (``nb``: the team's bokmål; any other:
        the English of the list)."""
        return self.description_nb if language == "nb" else self.description

    def chapter_in(self, language: str) -> str:
        return self.chapter_nb if language == "nb" else self.chapter

    def sub_chapter_in(self, language: str) -> str:
        return self.sub_chapter_nb if language == "nb" else self.sub_chapter

    @property
    def display(self) -> str:
        """The code as printed in the List of Waste: ``03 01 05`` (``*`` when hazardous)."""
        return spaced(self.code) + ("*" if self.hazardous else "")


class UnknownWasteCode(LookupError):
    """Not a code of the European List of Waste."""


class CatalogueError(ValueError):
    """The shipped list is malformed; the message names the file, row and column."""


def read(path: Path) -> dict[str, WasteCode]:
    """The list in ``path``, refusing a row whose text, English or bokmål, is empty."""
    found: dict[str, WasteCode] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            for column in (*_TRANSLATED, *(f"{c}_nb" for c in _TRANSLATED)):
                if not (row.get(column) or "").strip():
                    raise CatalogueError(f"{path.name}:{line}: {column} is empty")
            found[row["code"]] = WasteCode(
                code=row["code"],
                description=row["description"],
                hazardous=row["hazardous"] == "true",
                entry_type=row["entry_type"],
                chapter=row["chapter"],
                sub_chapter=row["sub_chapter"],
                description_nb=row["description_nb"],
                chapter_nb=row["chapter_nb"],
                sub_chapter_nb=row["sub_chapter_nb"],
            )
    return found


@cache
def catalogue() -> dict[str, WasteCode]:
    return read(EWC_FILE)


def description(code: str, language: str) -> str:
    """A code's description in ``language`` (``nb`` or ``en``); a code not in the list (a
    resource class, say) as it is."""
    entry = catalogue().get(normalise(code))
    return entry.described(language) if entry is not None else code


_SEPARATORS = re.compile(r"[\s.\-]")


def normalise(text: str) -> str:
    """``03 01 05*`` or ``03-01-05`` to ``030105``; does not check the list."""
    return _SEPARATORS.sub("", text.strip()).removesuffix("*")


def lookup(text: str) -> WasteCode:
    """The entry for a code in any usual spelling, or ``UnknownWasteCode``."""
    code = normalise(text)
    entry = catalogue().get(code)
    if entry is None:
        raise UnknownWasteCode(
            f"{text!r} is not a code of the European List of Waste "
            "(six digits, e.g. 03 01 05 for sawdust and wood shavings)"
        )
    return entry
