"""The European List of Waste (EWC codes), as shipped in ``shared/data/ewc-codes.csv``.

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

    @property
    def display(self) -> str:
        """The code as printed in the List of Waste: ``03 01 05`` (``*`` when hazardous)."""
        return spaced(self.code) + ("*" if self.hazardous else "")


class UnknownWasteCode(LookupError):
    """Not a code of the European List of Waste."""


@cache
def catalogue() -> dict[str, WasteCode]:
    with EWC_FILE.open(newline="", encoding="utf-8") as handle:
        return {
            row["code"]: WasteCode(
                code=row["code"],
                description=row["description"],
                hazardous=row["hazardous"] == "true",
                entry_type=row["entry_type"],
                chapter=row["chapter"],
                sub_chapter=row["sub_chapter"],
            )
            for row in csv.DictReader(handle)
        }


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
