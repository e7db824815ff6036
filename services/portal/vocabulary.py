"""The services' code words (statuses, roles, kinds, units) as words a person reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from services.portal.i18n import N_, _, current_language
from shared.knowledge import properties_for
from shared.resources import RESOURCE_CLASSES, Property, known_properties

WORDS: dict[str, str] = {
    # roles and people
    "member": N_("member"),
    "admin": N_("admin"),
    "park_admin": N_("park administrator"),
    "partner": N_("partner"),
    "invited": N_("invited"),
    "active": N_("active"),
    "disabled": N_("disabled"),
    # webhooks and their deliveries
    "paused": N_("paused"),
    "pending": N_("pending"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    # listings
    "offer": N_("offer"),
    "need": N_("need"),
    "draft": N_("draft"),
    "open": N_("open"),
    "reserved": N_("reserved"),
    "closed": N_("closed"),
    "withdrawn": N_("withdrawn"),
    "once": N_("once"),
    "weekly": N_("weekly"),
    "monthly": N_("monthly"),
    "yearly": N_("yearly"),
    "supplier": N_("supplier"),
    "receiver": N_("receiver"),
    "either": N_("either party"),
    "exchange": N_("the exchange"),
    # how a resource moves
    "road": N_("by road"),
    "pipe": N_("by pipe"),
    "ship": N_("by ship"),
    "rail": N_("by rail"),
    # units
    "t": N_("tonnes"),
    "kg": N_("kg"),
    "m3": N_("m³"),
    "MWh": N_("MWh"),
    "kWh": N_("kWh"),
    "pieces": N_("pieces"),
    # a hazardous-waste permit's state
    "stated": N_("stated"),
    "verified": N_("verified"),
    "rejected": N_("rejected"),
    # negotiations and contracts
    "agreed": N_("agreed"),
    "declined": N_("declined"),
    "expired": N_("expired"),
    "superseded": N_("superseded"),
    "proposed": N_("proposed"),
    "countered": N_("countered"),
    "accepted": N_("accepted"),
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
    "recorded": N_("recorded, awaiting confirmation"),
    "confirmed": N_("confirmed"),
    "disputed": N_("disputed"),
    "matcher": N_("the matcher"),
    "optimiser": N_("the park-wide plan"),
    # invoices
    "queued": N_("being issued"),
    "issued": N_("issued, awaiting payment"),
    "paid": N_("paid"),
    "payment_failed": N_("payment failed"),
    "void": N_("void"),
    "waiting": N_("waiting for company details"),
    "credited": N_("credited"),
    "not_needed": N_("nothing to do at Stripe"),
    "reduced": N_("cut to what remains"),
    # how a delivery was measured
    "weighbridge": N_("weighbridge"),
    "meter": N_("meter"),
    "volume": N_("volume"),
    "count": N_("count"),
    "estimate": N_("estimate"),
}


def word(value: object) -> str:
    """A code word in the person's language (a resource class by its name in
    shared/resources.py); an unknown one as it is."""
    text = str(value)
    if text in WORDS:
        return _(WORDS[text])
    kind = RESOURCE_CLASSES.get(text)
    if kind is not None:
        return kind.label_nb if current_language() == "nb" else kind.label
    return text


# A unit after "per" (one of it): "NOK 100 per tonne", not "per tonnes".
PER_UNIT: dict[str, str] = {
    "t": N_("tonne"),
    "kg": N_("kg"),
    "m3": N_("m³"),
    "MWh": N_("MWh"),
    "kWh": N_("kWh"),
    "pieces": N_("piece"),
}


def per_unit(value: object) -> str:
    """One of a unit, as it reads after "per"."""
    text = str(value)
    return _(PER_UNIT[text]) if text in PER_UNIT else word(text)


def quantity(value: Any, unit: str, number: Callable[[Any], str]) -> str:
    """``279.5`` ``t`` as "279,5 tonn" (nb) or "279.5 tonnes" (en)."""
    return f"{number(value)} {word(unit)}"


# A property's unit as it is written; the rest (%, °C, bar, MJ/kg) are the same in both.
PROPERTY_UNITS: dict[str, str] = {
    "h": N_("hours"),
    "months": N_("months"),
    "MJ/m3": N_("MJ/m³"),
    "mg/m3": N_("mg/m³"),
}


@dataclass(frozen=True)
class PropertyChoice:
    """A quality property as the listing form offers it: its name, words and unit."""

    name: str
    label: str
    unit: str
    unit_words: str


def property_unit(unit: object) -> str:
    text = str(unit or "")
    return _(PROPERTY_UNITS[text]) if text in PROPERTY_UNITS else text


def _choice(found: Property) -> PropertyChoice:
    """The property in the reader's words: shared/resources.py names every property in
    both languages, for the services' reasons and documents and for these pages alike."""
    label = found.label_nb if current_language() == "nb" else found.label
    return PropertyChoice(found.name, label, found.unit, property_unit(found.unit))


def property_choices(resources: Iterable[str]) -> list[PropertyChoice]:
    """The properties known for the resources, in their order (a class's own first: supply
    temperature before capacity); for no resource yet, every property the exchange knows,
    in the reader's alphabetical order."""
    wanted = tuple(resources)
    if wanted:
        return [_choice(p) for p in properties_for(wanted)]
    return sorted((_choice(p) for p in known_properties().values()), key=lambda c: c.label)


def property_choice(name: str, resources: Iterable[str] = ()) -> PropertyChoice | None:
    """The words for one property, as the resources name it (heat's temperature is its
    supply temperature), else as the exchange does; None for a name it does not know."""
    for found in properties_for(tuple(resources)):
        if found.name == name:
            return _choice(found)
    known = known_properties().get(name)
    return _choice(known) if known else None


def property_words(name: object, resources: Iterable[str] = ()) -> str:
    """A property in words (``temperature_c`` is "temperature"); an unknown one as it is
    stored, underscores as spaces."""
    found = property_choice(str(name), resources)
    return found.label if found else str(name).replace("_", " ")
