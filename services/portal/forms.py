"""Forms as a person fills them in (kroner with a decimal comma, a gate-fee box, lat/long
from the plan) into the bodies the services' APIs take; no I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from services.portal.i18n import N_, _
from services.portal.nace import split_codes
from services.portal.problems import FormErrors
from shared.resources import TRANSPORT_MODES, known_properties

Form = Mapping[str, str]

QUALITY_ROWS = 3
UNITS = ("t", "kg", "m3", "MWh", "kWh", "pieces")
FREQUENCIES = ("once", "weekly", "monthly", "yearly")
TRANSPORTS = ("either", "supplier", "receiver")
KINDS = ("offer", "need")

# The API's field names and the form's, for marking the field a service refused.
LISTING_FIELDS = {
    "kind": "kind",
    "ewc_code": "ewc_code",
    "resource_class": "resource_class",
    "title": "title",
    "description": "description",
    "quantity": "quantity",
    "unit": "unit",
    "frequency": "frequency",
    "available_from": "available_from",
    "available_until": "available_until",
    "quality": "quality",
    "location": "latitude",
    "transport": "transport",
    "price_per_unit_ore": "price",
    "hazardous": "hazardous",
    "internal_note": "internal_note",
    "use": "use",
    "accepts": "use",
    "transport_mode": "transport_mode",
    "max_distance_km": "max_distance_km",
}
TERMS_FIELDS = {
    "quantity": "quantity",
    "unit": "quantity",
    "price_per_unit_ore": "price",
    "transport": "transport",
    "schedule": "schedule",
    "delivery_from": "delivery_from",
    "delivery_until": "delivery_until",
}
DELIVERY_FIELDS = {
    "quantity": "quantity",
    "unit": "quantity",
    "delivered_on": "delivered_on",
    "weighbridge_note": "weighbridge_note",
    "weighbridge_ticket": "weighbridge_ticket",
    "measurement": "measurement",
    "carrier": "carrier_org_number",
    "carrier.name": "carrier_name",
    "declaration": "waste_number",
    "declaration.waste_number": "waste_number",
    "declaration.description": "waste_description",
    "declaration.properties": "properties",
    "declaration.un_number": "un_number",
}
MEASUREMENTS = ("weighbridge", "meter", "volume", "count", "estimate")

_NUMBER = N_("Enter a number, e.g. 12,5.")
_POSITIVE = N_("Enter a number above zero.")
_KRONER = N_("Enter an amount in kroner, e.g. 150 or 150,50.")
_REQUIRED = N_("This field is required.")
_LATITUDE = N_("Enter a latitude between -90 and 90, or click the plan.")
_LONGITUDE = N_("Enter a longitude between -180 and 180, or click the plan.")
_CHOICE = N_("Choose one of the options.")
_INVALID = N_("Some of what you entered needs correcting; see the marked fields.")
_DATE = N_("Enter a date as day, month and year.")


def number(text: str) -> Decimal:
    """``12,5``, ``12.5``, ``1 200`` or -3 written with a minus sign (U+2212) as a Decimal;
    ValueError if it is none."""
    cleaned = (
        text.strip()
        .replace("\u00a0", "")
        .replace("\u202f", "")
        .replace(" ", "")
        .replace(",", ".")
        .replace("\u2212", "-")
    )
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


_DAY = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})$")


def day(text: str) -> date:
    """A date as people type it: ``31.12.2026``, ``31/12/2026``, ``31.12.26`` or ISO
    ``2026-12-31``; ValueError if it is none."""
    cleaned = text.strip().replace(" ", "")
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        pass
    found = _DAY.match(cleaned)
    if found is None:
        raise ValueError(text)
    dd, mm, yy = (int(part) for part in found.groups())
    return date(yy + 2000 if yy < 100 else yy, mm, dd)


def machine_number(text: str) -> str:
    """A number a person typed (``2,5``) as the services' APIs read it (``2.5``); what is
    not a number as it is, for the service to refuse at its field."""
    try:
        return str(number(text)) if text.strip() else text
    except ValueError:
        return text


def ore(kroner: Decimal) -> int:
    """Kroner to whole øre, rounding half away from zero."""
    return int((kroner * 100).to_integral_value(rounding="ROUND_HALF_UP"))


def kroner(ore_amount: int) -> Decimal:
    return Decimal(ore_amount) / 100


class _Reader:
    """Collects the form's values and every field error at once."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self.errors: dict[str, str] = {}

    def text(self, name: str, *, required: bool = False) -> str:
        value = (self.form.get(name) or "").strip()
        if required and not value:
            self.errors[name] = _(_REQUIRED)
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(name) or (default or "")
        if value not in options:
            self.errors[name] = _(_CHOICE)
        return value

    def decimal(
        self, name: str, *, required: bool = False, positive: bool = False
    ) -> Decimal | None:
        raw = self.text(name, required=required)
        if not raw:
            return None
        try:
            value = number(raw)
        except ValueError:
            self.errors[name] = _(_NUMBER)
            return None
        if positive and value <= 0:
            self.errors[name] = _(_POSITIVE)
            return None
        return value

    def price(self, name: str, gate_fee_box: str) -> int | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            amount = number(raw)
        except ValueError:
            self.errors[name] = _(_KRONER)
            return None
        value = ore(abs(amount))
        return -value if self.form.get(gate_fee_box) or amount < 0 else value

    def day(self, name: str, *, required: bool = False) -> str | None:
        """An ISO date for the API from what was typed."""
        raw = self.text(name, required=required)
        if not raw:
            return None
        try:
            return day(raw).isoformat()
        except ValueError:
            self.errors[name] = _(_DATE)
            return None

    def checkbox(self, name: str) -> bool:
        return bool(self.form.get(name))

    def raise_if_any(self) -> None:
        if self.errors:
            raise FormErrors(_(_INVALID), dict(self.errors))


def listing_body(form: Form, *, new: bool) -> dict[str, Any]:
    """The listing form as a ``ListingDraft`` (new) or a ``ListingChange`` (edit)."""
    read = _Reader(form)
    body: dict[str, Any] = {}
    if new:
        body["kind"] = read.choice("kind", KINDS)
        resource = read.text("resource_class")
        code = read.text("ewc_code")
        use = read.text("use")
        if resource:
            body["resource_class"] = resource
        elif code:
            body["ewc_code"] = code
        elif not (use and body["kind"] == "need"):
            read.errors["ewc_code"] = _(N_("Choose a waste code or a resource class."))
        if use:
            body["use"] = use
        body["unit"] = read.choice("unit", UNITS)
        body["frequency"] = read.choice("frequency", FREQUENCIES, "once")
        body["hazardous"] = read.checkbox("hazardous")
        body["publish"] = form.get("publish", "1") != "0"
    body["title"] = read.text("title", required=True)
    body["description"] = read.text("description")
    quantity = read.decimal("quantity", required=True, positive=True)
    if quantity is not None:
        body["quantity"] = str(quantity)
    body["transport"] = read.choice("transport", TRANSPORTS, "either")
    mode = read.text("transport_mode")
    if mode or not new:
        body["transport_mode"] = read.choice("transport_mode", TRANSPORT_MODES) if mode else None
    reach = read.decimal("max_distance_km", positive=True)
    if reach is not None or not new:
        body["max_distance_km"] = None if reach is None else float(reach)
    body["price_per_unit_ore"] = read.price("price", "gate_fee")
    for name in ("available_from", "available_until"):
        value = read.day(name)
        if value or not new:
            body[name] = value
    body["internal_note"] = read.text("internal_note")
    body["quality"] = _quality(read)
    location = _location(read)
    if location:
        body["location"] = location
    read.raise_if_any()
    if new and body.get("available_from") is None:
        body.pop("available_from", None)
    return body


def listing_fields(form: Form) -> dict[str, str]:
    """``LISTING_FIELDS`` with the API's quality entries mapped to the form's rows: the
    API numbers the properties sent, which skip the rows left empty (a refused unit is
    the property's, chosen with it)."""
    filled = [i for i in range(QUALITY_ROWS) if (form.get(f"quality_{i}_property") or "").strip()]
    rows = {
        f"quality.{sent}.{key}": f"quality_{row}_{'property' if key == 'unit' else key}"
        for sent, row in enumerate(filled)
        for key in ("property", "unit", "min", "max", "value")
    }
    return LISTING_FIELDS | rows


def _quality(read: _Reader) -> list[dict[str, Any]]:
    rows = []
    for i in range(QUALITY_ROWS):
        prop = read.text(f"quality_{i}_property")
        if not prop:
            continue
        # The unit is the property's; one the exchange does not know (a listing's own from
        # before properties were chosen) keeps the unit it was stored with.
        known = known_properties().get(prop)
        unit = known.unit if known else read.text(f"quality_{i}_unit")
        row: dict[str, Any] = {"property": prop, "unit": unit}
        for bound in ("min", "max", "value"):
            value = read.decimal(f"quality_{i}_{bound}")
            if value is not None:
                row[bound] = float(value)
        rows.append(row)
    return rows


def _location(read: _Reader) -> dict[str, Any] | None:
    location: dict[str, Any] = {}
    plot = read.text("plot")
    if plot:
        location["plot"] = plot
    latitude = read.decimal("latitude")
    longitude = read.decimal("longitude")
    if latitude is not None and not -90 <= latitude <= 90:
        read.errors["latitude"] = _(_LATITUDE)
    if longitude is not None and not -180 <= longitude <= 180:
        read.errors["longitude"] = _(_LONGITUDE)
    if latitude is None and longitude is not None:
        read.errors["latitude"] = _(_LATITUDE)
    if longitude is None and latitude is not None:
        read.errors["longitude"] = _(_LONGITUDE)
    if latitude is not None and longitude is not None:
        location["latitude"] = float(latitude)
        location["longitude"] = float(longitude)
    return location or None


def _address_and_place(read: _Reader) -> dict[str, Any]:
    """A company's address (all of it or none) and its place in the park, as the sign-up
    and the profile forms have them."""
    found: dict[str, Any] = {}
    address = {k: read.text(k) for k in ("street", "postcode", "city")}
    if any(address.values()):
        for name, value in address.items():
            if not value:
                read.errors[name] = _(_REQUIRED)
        found["address"] = address
    location = _location(read)
    if location:
        found["location"] = location
    return found


def terms_body(form: Form, unit: str) -> dict[str, Any]:
    """A counter-offer: quantity, price (a gate fee when ticked), transport and schedule."""
    read = _Reader(form)
    quantity = read.decimal("quantity", required=True, positive=True)
    price = read.price("price", "gate_fee")
    if price is None and "price" not in read.errors:
        read.errors["price"] = _(_REQUIRED)
    body: dict[str, Any] = {
        "quantity": str(quantity) if quantity is not None else None,
        "unit": unit,
        "price_per_unit_ore": price,
        "transport": read.choice("transport", TRANSPORTS, "either"),
        "schedule": read.choice("schedule", FREQUENCIES, "once"),
    }
    for name in ("delivery_from", "delivery_until"):
        value = read.day(name)
        if value:
            body[name] = value
    read.raise_if_any()
    return body


def delivery_body(form: Form, unit: str, hazardous: bool = False) -> dict[str, Any]:
    """A delivery as the supplier records it: quantity, date, how it was measured (the
    weighbridge ticket), the carrier, and for hazardous waste the declaration's data."""
    read = _Reader(form)
    quantity = read.decimal("quantity", required=True, positive=True)
    delivered_on = read.day("delivered_on", required=True)
    body: dict[str, Any] = {"quantity": str(quantity), "unit": unit, "delivered_on": delivered_on}
    for name in ("weighbridge_note", "weighbridge_ticket"):
        value = read.text(name)
        if value:
            body[name] = value
    if read.text("measurement"):
        body["measurement"] = read.choice("measurement", MEASUREMENTS, "weighbridge")
    carrier = read.text("carrier_name")
    carrier_org = read.text("carrier_org_number")
    if carrier:
        body["carrier"] = {"name": carrier, "org_number": carrier_org.replace(" ", "") or None}
    elif carrier_org:
        read.errors["carrier_name"] = _(_REQUIRED)
    if hazardous:
        body["declaration"] = {
            "waste_number": read.text("waste_number", required=True),
            "description": read.text("waste_description", required=True),
            "properties": [
                p for p in read.text("properties", required=True).replace(",", " ").split() if p
            ],
            "un_number": read.text("un_number") or None,
        }
    read.raise_if_any()
    return body


_MISMATCH = N_("The two passwords are not the same.")


def signup_body(form: Form) -> dict[str, Any]:
    """The sign-up form as a company registration with its first admin, who confirms the
    e-mail address before signing in."""
    read = _Reader(form)
    body: dict[str, Any] = {
        "name": read.text("name", required=True),
        "org_number": read.text("org_number", required=True).replace(" ", ""),
        "nace_codes": split_codes(read.text("nace_codes")),
    }
    body.update(_address_and_place(read))
    password = form.get("password") or ""
    if not password:
        read.errors["password"] = _(_REQUIRED)
    elif form.get("again", "") != password:
        read.errors["again"] = _(_MISMATCH)
    body["admin"] = {
        "name": read.text("admin_name", required=True),
        "email": read.text("email", required=True),
        "password": password,
        "language": read.choice("language", ("nb", "en"), "nb"),
        "confirm_email": True,
    }
    read.raise_if_any()
    return body


# The profile's API fields and the form's, for marking the field a service refused.
PROFILE_FIELDS = {
    "name": "name",
    "nace_codes": "nace_codes",
    "address": "street",
    "address.street": "street",
    "address.postcode": "postcode",
    "address.city": "city",
    "location": "plot",
    "location.plot": "plot",
    "location.latitude": "latitude",
    "location.longitude": "longitude",
}


def profile_body(form: Form) -> dict[str, Any]:
    """The company profile form as the change the listings service takes: its name, NACE
    codes, address and place in the park (a plot, a point on the map, or both)."""
    read = _Reader(form)
    body: dict[str, Any] = {
        "name": read.text("name", required=True),
        "nace_codes": split_codes(read.text("nace_codes")),
    }
    body.update(_address_and_place(read))
    read.raise_if_any()
    return body
