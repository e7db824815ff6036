"""Companies and listings as the exchange understands them; no I/O here."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.no import kontonr, orgnr

from shared.ewc import WasteCode, lookup
from shared.knowledge import listing_resources, nace, properties_for, use_names
from shared.refusals import Refusal
from shared.resources import MATERIAL_UNITS, RESOURCE_CLASSES, open_classes

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
        raise Refusal(
            "company.org_number_invalid",
            f"{text!r} is not a valid Norwegian organisation number "
            "(nine digits whose last is a mod-11 check digit, e.g. 921 081 146)",
            value=text,
        ) from exc


def bank_account(text: str) -> str:
    """A Norwegian bank account number (11 digits, MOD11 check digit), compact."""
    try:
        return str(kontonr.validate(text))
    except StdnumValidationError as exc:
        raise Refusal(
            "company.bank_account_invalid",
            f"{text!r} is not a Norwegian bank account number (11 digits whose last is a "
            "MOD11 check digit, e.g. 8601 11 17947)",
            value=text,
        ) from exc


def waste_code(text: str) -> WasteCode:
    """The List of Waste entry for a code; ``ValueError`` with a readable message if unknown."""
    try:
        return lookup(text)
    except LookupError as exc:
        raise Refusal("listing.ewc_code_unknown", str(exc.args[0]), value=text) from exc


def positive_quantity(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise Refusal("value.greater_than", "the quantity must be a number greater than zero", gt=0)
    if value < MIN_QUANTITY:
        raise Refusal(
            "value.greater_than_equal",
            f"the quantity must be at least {MIN_QUANTITY} (three decimals are kept)",
            ge=MIN_QUANTITY,
        )
    if value > MAX_QUANTITY:
        raise Refusal("value.too_large", "the quantity is implausibly large")
    return value


_NACE = re.compile(r"^\d{2}(\.\d{1,2}){0,2}$")
MIN_PASSWORD_LENGTH = 10


def nace_code(text: str) -> str:
    """A code of the NACE list the exchange ships (``16``, ``16.1``, ``16.11``, or a
    Norwegian five-digit subclass ``16.110``): checked against the list, not the format."""
    code = text.strip()
    if not _NACE.match(code) and not re.fullmatch(r"\d{2}\.\d{3}", code):
        raise Refusal(
            "company.nace_code_invalid",
            f"{text!r} is not a NACE code (two digits, optionally .d, .dd or .ddd, e.g. 16.11)",
            value=text,
        )
    if code not in nace():
        raise Refusal(
            "company.nace_code_unknown",
            f"{code} is not in the NACE list (NACE Rev. 2.1 / SN2025; e.g. 16.11 sawmilling, "
            "35.30 steam and air conditioning supply)",
            value=code,
        )
    return code


def hazardous_permit(text: str) -> str:
    """A permit is held for receiving a hazardous List of Waste entry; others need none."""
    entry = waste_code(text)
    if not entry.hazardous:
        raise Refusal(
            "company.permit_not_hazardous",
            f"{entry.display} is not hazardous; permits are recorded only for hazardous codes",
            waste_code=entry.display,
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


def permit_state(status: str | None, valid_until: date | None) -> str:
    """The permit's state as a refusal's parameter: ``none``, ``stated`` (not verified
    yet), ``rejected``, ``expired`` or ``verified`` (then it does not cover the code)."""
    if status is None:
        return "none"
    if status != "verified":
        return status
    if valid_until is None or valid_until < date.today():
        return "expired"
    return "verified"


def password(text: str) -> str:
    if len(text) < MIN_PASSWORD_LENGTH:
        raise Refusal(
            "person.password_too_short",
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters",
            min_length=MIN_PASSWORD_LENGTH,
        )
    if text.strip() != text or not text.strip():
        raise Refusal("person.password_spaces", "the password must not start or end with spaces")
    return text


def check_required_quality(resource_class: str, quality: list[dict[str, Any]]) -> None:
    """A class's required properties are stated, and its own properties in its units."""
    known = RESOURCE_CLASSES[resource_class]
    properties = [q["property"] for q in quality]
    missing = [p for p in known.required_quality if p not in properties]
    if missing:
        wanted = known.property(missing[0])
        unit = wanted.unit if wanted else "°C"
        raise Refusal(
            "listing.quality_required",
            f"a {resource_class} listing must state {', '.join(missing)} in its quality "
            f'(e.g. {{"property": "{missing[0]}", "unit": "{unit}", "value": 40}})',
            field="quality",
            resource_class=resource_class,
            property=missing[0],
            unit=unit,
        )
    for q in quality:
        defined = known.property(q["property"])
        if defined is not None and q.get("unit") != defined.unit:
            raise Refusal(
                "listing.quality_unit",
                f"{q['property']} of a {resource_class} listing is given in {defined.unit}, "
                f"not {q.get('unit')}",
                field="quality",
                property=q["property"],
                unit=defined.unit,
                given=q.get("unit"),
            )


def check_known_quality(
    resources: tuple[str, ...], quality: list[dict[str, Any]], kept: tuple[str, ...] = ()
) -> None:
    """Each property stated is one the exchange knows for the listing's resources
    (``shared.knowledge.properties_of``), in its unit; ``kept``: properties the listing
    already has, which a change may keep whatever they are."""
    known = {p.name: p for p in properties_for(resources)}
    for i, q in enumerate(quality):
        name = q["property"]
        defined = known.get(name)
        if defined is None and name not in kept:
            raise Refusal(
                "listing.quality_unknown",
                f"{name} is not a quality property of this resource; one of "
                f"{', '.join(known) or 'none: state no quality'}",
                field=f"quality.{i}.property",
                property=name,
                properties=list(known),
            )
        if defined is not None and q.get("unit") != defined.unit:
            raise Refusal(
                "listing.quality_unit",
                f"{name} is given in {defined.unit}, not {q.get('unit')}",
                field=f"quality.{i}.unit",
                property=name,
                unit=defined.unit,
                given=q.get("unit"),
            )


def accepted_resource(text: str) -> str:
    """One of the resources a need accepts: a List of Waste code or ``class:<name>``."""
    name = text.strip()
    if name.startswith("class:") or name in RESOURCE_CLASSES:
        bare = name.removeprefix("class:")
        if bare not in RESOURCE_CLASSES or RESOURCE_CLASSES[bare].retired:
            raise Refusal(
                "listing.resource_class_unknown",
                f"unknown resource class {bare!r}; one of {', '.join(open_classes())}",
                value=bare,
            )
        return f"class:{bare}"
    return waste_code(name).code


def use_name(text: str) -> str:
    """A use the knowledge base knows (``boiler_fuel``, ``cement_raw_material``, ...)."""
    if text not in use_names():
        raise Refusal(
            "listing.use_unknown",
            f"unknown use {text!r}; one of {', '.join(sorted(use_names()))}",
            value=text,
        )
    return text


def check_resource(
    ewc_code: str | None,
    resource_class: str | None,
    unit: str,
    hazardous: bool,
    quality: list[dict[str, Any]],
    kind: str = "offer",
    use: str | None = None,
    accepts: tuple[str, ...] = (),
) -> None:
    """A listing names exactly one resource (a need may name a use instead), in a unit that
    measures it, flagged as it is; only a need names a use or other acceptable resources."""
    properties = [q["property"] for q in quality]
    if kind != "need" and (use is not None or accepts):
        raise Refusal(
            "listing.use_only_for_needs",
            "only a need names a use or other resources it accepts",
            field="use",
        )
    if (ewc_code is None) == (resource_class is None) and not (
        kind == "need" and use is not None and ewc_code is None and resource_class is None
    ):
        raise Refusal(
            "listing.resource_missing",
            "give either ewc_code (a List of Waste code) or resource_class"
            + ("; a need may name a use instead" if kind == "need" else ""),
            field="ewc_code",
            kind=kind,
        )
    if len(set(properties)) != len(properties):
        raise Refusal(
            "listing.quality_repeated", "each quality property may appear once", field="quality"
        )
    if ewc_code is None and resource_class is None:
        if hazardous:
            raise _only_codes_hazardous()
        check_known_quality(listing_resources(None, None, use, accepts), quality)
        return
    if resource_class is not None:
        known = RESOURCE_CLASSES.get(resource_class)
        if known is None or known.retired:
            raise Refusal(
                "listing.resource_class_retired" if known else "listing.resource_class_unknown",
                f"unknown resource_class {resource_class!r}; one of {', '.join(open_classes())}"
                + (
                    " (by_product is retired: it said nothing of what the thing is)"
                    if known
                    else ""
                ),
                field="resource_class",
                value=resource_class,
            )
        if unit not in known.units:
            raise Refusal(
                "listing.unit_not_for_resource",
                f"{resource_class} is measured in {', '.join(known.units)}, not {unit}",
                field="unit",
                unit=unit,
                units=list(known.units),
            )
        if hazardous:
            raise _only_codes_hazardous()
        check_known_quality(listing_resources(None, resource_class, use, accepts), quality)
        check_required_quality(resource_class, quality)
        return
    entry = waste_code(ewc_code or "")
    if unit not in MATERIAL_UNITS:
        raise Refusal(
            "listing.unit_not_for_resource",
            f"materials are measured in {', '.join(MATERIAL_UNITS)}, not {unit}",
            field="unit",
            unit=unit,
            units=list(MATERIAL_UNITS),
        )
    if entry.hazardous and not hazardous:
        raise Refusal(
            "listing.hazardous_unconfirmed",
            f"{entry.display} is a hazardous entry of the List of Waste; "
            'confirm it with "hazardous": true',
            field="hazardous",
            waste_code=entry.display,
        )
    if hazardous and not entry.hazardous:
        raise Refusal(
            "listing.not_hazardous",
            f'{entry.display} is not hazardous; leave "hazardous" false',
            field="hazardous",
            waste_code=entry.display,
        )
    check_known_quality(listing_resources(entry.code, None, use, accepts), quality)


def _only_codes_hazardous() -> Refusal:
    return Refusal(
        "listing.hazardous_without_code",
        "only List of Waste codes can be hazardous",
        field="hazardous",
    )


def check_window(available_from: date, available_until: date | None) -> None:
    if available_until is not None and available_until < available_from:
        raise Refusal(
            "listing.window_reversed",
            "the availability window ends before it starts",
            field="available_until",
        )
