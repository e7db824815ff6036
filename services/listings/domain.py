"""Companies and listings as the exchange understands them; no I/O here."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Literal

from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.no import orgnr

from shared.ewc import WasteCode, lookup
from shared.resources import MATERIAL_UNITS, RESOURCE_CLASSES

ListingKind = Literal["offer", "need"]
ListingStatus = Literal["draft", "open", "reserved", "closed", "withdrawn"]

MAX_QUANTITY = Decimal("1e12")
# Quantities are kept to three decimals: anything smaller would be stored as zero.
MIN_QUANTITY = Decimal("0.001")


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
    if value < MIN_QUANTITY:
        raise ValueError(f"the quantity must be at least {MIN_QUANTITY} (three decimals are kept)")
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


def permit_covers(
    status: str | None, valid_until: date | None, codes: list[str], code: str, today: date
) -> str | None:
    """Why a company may not post a need for the hazardous ``code``, or None when its
    permit is verified, has not run out and covers the code."""
    if status is None:
        return "your company has stated no permit to receive it"
    if status != "verified":
        return (
            "your company's permit has not been verified by the park yet"
            if status == "stated"
            else "your company's permit was not accepted by the park"
        )
    if valid_until is None or valid_until < today:
        return "your company's permit has run out"
    if code not in codes:
        return "your company's permit does not cover it"
    return None


def password(text: str) -> str:
    if len(text) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if text.strip() != text or not text.strip():
        raise ValueError("the password must not start or end with spaces")
    return text


def check_required_quality(resource_class: str, properties: list[str]) -> None:
    missing = [p for p in RESOURCE_CLASSES[resource_class].required_quality if p not in properties]
    if missing:
        raise ValueError(
            f"a {resource_class} listing must state {', '.join(missing)} in its quality "
            f'(e.g. {{"property": "{missing[0]}", "unit": "°C", "value": 40}})'
        )


def check_resource(
    ewc_code: str | None,
    resource_class: str | None,
    unit: str,
    hazardous: bool,
    quality_properties: list[str],
) -> None:
    """A listing names exactly one resource, in a unit that measures it, flagged as it is."""
    if (ewc_code is None) == (resource_class is None):
        raise ValueError("give either ewc_code (a List of Waste code) or resource_class")
    if len(set(quality_properties)) != len(quality_properties):
        raise ValueError("each quality property may appear once")
    if resource_class is not None:
        known = RESOURCE_CLASSES.get(resource_class)
        if known is None:
            raise ValueError(
                f"unknown resource_class {resource_class!r}; one of {', '.join(RESOURCE_CLASSES)}"
            )
        if unit not in known.units:
            raise ValueError(
                f"{resource_class} is measured in {', '.join(known.units)}, not {unit}"
            )
        if hazardous:
            raise ValueError("only List of Waste codes can be hazardous")
        check_required_quality(resource_class, quality_properties)
        return
    entry = waste_code(ewc_code or "")
    if unit not in MATERIAL_UNITS:
        raise ValueError(f"materials are measured in {', '.join(MATERIAL_UNITS)}, not {unit}")
    if entry.hazardous and not hazardous:
        raise ValueError(
            f"{entry.display} is a hazardous entry of the List of Waste; "
            'confirm it with "hazardous": true'
        )
    if hazardous and not entry.hazardous:
        raise ValueError(f'{entry.display} is not hazardous; leave "hazardous" false')


def check_window(available_from: date, available_until: date | None) -> None:
    if available_until is not None and available_until < available_from:
        raise ValueError("the availability window ends before it starts")
