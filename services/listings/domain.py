"""Companies and listings as the exchange understands them; no I/O here."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.no import orgnr

from shared.ewc import WasteCode, lookup

ListingKind = Literal["offer", "need"]
ListingStatus = Literal["draft", "open", "reserved", "closed", "withdrawn"]

MAX_QUANTITY = Decimal("1e12")


def organisation_number(text: str) -> str:
    """The nine-digit Norwegian organisation number, checked with its mod-11 digit."""
    try:
        return str(orgnr.validate(text))
    except StdnumValidationError as exc:
        raise ValueError(
            f"{text!r} is not a valid Norwegian organisation number "
            "(nine digits whose last is a mod-11 check digit, e.g. 921 081 146)"
        ) from exc


def waste_code(text: str) -> WasteCode:
    """The List of Waste entry for a code; ``ValueError`` with a readable message if unknown."""
    try:
        return lookup(text)
    except LookupError as exc:
        raise ValueError(str(exc.args[0])) from exc


def positive_quantity(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError("the quantity must be a number greater than zero")
    if value > MAX_QUANTITY:
        raise ValueError("the quantity is implausibly large")
    return value


_NACE = re.compile(r"^\d{2}(\.\d{1,2}){0,2}$")
MIN_PASSWORD_LENGTH = 10


def nace_code(text: str) -> str:
    """A NACE Rev. 2 code in its usual form (``16``, ``16.1``, ``16.10``); format only."""
    code = text.strip()
    if not _NACE.match(code):
        raise ValueError(
            f"{text!r} is not a NACE code (two digits, optionally .d or .dd, e.g. 16.10)"
        )
    return code


def hazardous_permit(text: str) -> str:
    """A permit is held for receiving a hazardous List of Waste entry; others need none."""
    entry = waste_code(text)
    if not entry.hazardous:
        raise ValueError(
            f"{entry.display} is not hazardous; permits are recorded only for hazardous codes"
        )
    return entry.code


def password(text: str) -> str:
    if len(text) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if text.strip() != text or not text.strip():
        raise ValueError("the password must not start or end with spaces")
    return text
