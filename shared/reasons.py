"""Reasons as data: a code and its parameters (``{"code": "quality.within_limit",
"params": {...}}``), and their words in Norwegian bokmål and English.

The matcher states each reason as a code with typed parameters (numbers as numbers, codes
and classes as the exchange names them); the English sentence that travels beside it in
events and APIs is rendered from this same catalogue, and people read both the portal and
their notifications in their own language from it. Nothing here reads a sentence back.
tests/unit/test_reasons.py fails for a code without words in both languages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, Literal, NamedTuple

from shared import knowledge
from shared.ewc import catalogue, spaced
from shared.resources import RESOURCE_CLASSES, known_properties

Language = Literal["nb", "en"]
Params = Mapping[str, Any]


class Bilingual(NamedTuple):
    nb: str
    en: str

    def in_(self, language: str) -> str:
        return self.nb if language == "nb" else self.en


def number(value: Any, language: Language, decimals: int | None = None) -> str:
    """A number as each language writes it: 2,811.5 in English, 2 811,5 in bokmål."""
    if value is None:
        return "?"
    amount = float(value)
    if decimals is None:
        decimals = (
            0 if amount == int(amount) or abs(amount) >= 100 else (1 if abs(amount) >= 1 else 2)
        )
        text = f"{amount:,.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = f"{amount:,.{decimals}f}"
    if language == "nb":
        text = text.replace(",", "\u00a0").replace(".", ",")
    return text


def resource(value: str, language: Language) -> str:
    """A class as its label; a List of Waste code as ``03 01 05`` with its description."""
    kind = RESOURCE_CLASSES.get(value.removeprefix("class:"))
    if kind is not None:
        return (kind.label_nb or kind.label) if language == "nb" else kind.label
    entry = catalogue().get(value)
    if entry is not None:
        return entry.display
    return spaced(value)


def use(value: str, language: Language) -> str:
    found = knowledge.use_names().get(value)
    if found is None:
        return value
    return found.label_nb if language == "nb" else found.label


# Who published the emission factors (shared/data/emission-factors*.csv), as people know them.
_PUBLISHERS = (
    "DESNZ",
    "ICE",
    "NVE",
    "Nasjonale standardfaktorer",
    "Norsk Fjernvarme",
    "Yara",
    "Combustion stoichiometry",
)


def sources(keys: Sequence[str], language: Language) -> str:
    """Emission factors' keys (``disp.any.efw``) as their publishers and years."""
    factors = knowledge.emission_factors()
    named = []
    for key in keys:
        factor = factors.get(key)
        publisher = next((p for p in _PUBLISHERS if factor and factor.source.startswith(p)), None)
        if factor is None or publisher is None:
            named.append(key)
        else:
            if publisher == "Combustion stoichiometry":
                publisher = "IPCC"
            named.append(f"{publisher} {factor.year}" if factor.year.isdigit() else publisher)
    label = "kilde" if language == "nb" else "source"
    return f"{label}: {', '.join(dict.fromkeys(named))}"


def quantity(value: Any, unit: str, language: Language) -> str:
    return f"{number(value, language)} {unit}"


def bounds(low: Any, high: Any, language: Language) -> str:
    """``at least 5 and at most 45`` in the language."""
    least, most, both = (
        ("minst", "høyst", " og ") if language == "nb" else ("at least", "at most", " and ")
    )
    parts = []
    if low is not None:
        parts.append(f"{least} {number(low, language)}")
    if high is not None:
        parts.append(f"{most} {number(high, language)}")
    return both.join(parts)


def span(low: Any, high: Any, language: Language) -> str:
    """What an offer states of a property: a value, a range, or one bound of it."""
    if low is not None and high is not None:
        if low == high:
            return number(low, language)
        word = " til " if language == "nb" else " to "
        return f"{number(low, language)}{word}{number(high, language)}"
    if high is not None:
        return f"{'høyst' if language == 'nb' else 'at most'} {number(high, language)}"
    if low is not None:
        return f"{'minst' if language == 'nb' else 'at least'} {number(low, language)}"
    return "?"


Render = Callable[[Params, Language], str]


def _t(nb: str, en: str, **formats: Callable[[Params, Language], str]) -> Render:
    """A template whose ``{name}`` fields come from the parameters, each through its own
    formatter where one is given (numbers, resources, uses), else as they are."""

    def render(params: Params, language: Language) -> str:
        values: dict[str, str] = {k: str(v) for k, v in params.items()}
        for name, fmt in formats.items():
            values[name] = fmt(params, language)
        return (nb if language == "nb" else en).format(**values)

    return render


def _num(name: str) -> Callable[[Params, Language], str]:
    return lambda p, lang: number(p.get(name), lang)


def _res(name: str) -> Callable[[Params, Language], str]:
    return lambda p, lang: resource(str(p.get(name)), lang)


def _use(name: str = "use") -> Callable[[Params, Language], str]:
    return lambda p, lang: use(str(p.get(name)), lang)


def _qty(value: str, unit: str) -> Callable[[Params, Language], str]:
    return lambda p, lang: quantity(p.get(value), str(p.get(unit)), lang)


def _property(p: Params, lang: Language) -> str:
    """A quality property in words (``temperature_c`` is "supply temperature"); one the
    exchange does not know (a listing's own from before properties were chosen) as it is."""
    name = str(p.get("property"))
    found = known_properties().get(name)
    if found is None:
        return name
    return found.label_nb if lang == "nb" else found.label


# A property's unit where the languages write it differently (shared/resources.py units).
_PROPERTY_UNITS: dict[str, Bilingual] = {
    "h": Bilingual("timer", "hours"),
    "months": Bilingual("måneder", "months"),
    "MJ/m3": Bilingual("MJ/m³", "MJ/m³"),
    "mg/m3": Bilingual("mg/m³", "mg/m³"),
}


def _property_unit(p: Params, lang: Language) -> str:
    unit = str(p.get("unit"))
    return _PROPERTY_UNITS[unit].in_(lang) if unit in _PROPERTY_UNITS else unit


def _bounds(p: Params, lang: Language) -> str:
    return bounds(p.get("min"), p.get("max"), lang)


def _stated(p: Params, lang: Language) -> str:
    return span(p.get("stated_min"), p.get("stated_max"), lang)


def _factors(p: Params, lang: Language) -> str:
    return sources(list(p.get("factors") or ()), lang)


def _permit(p: Params, lang: Language) -> str:
    if not p.get("permit"):
        return ""
    return (
        "; mottakeren trenger tillatelse til å ta imot avfall"
        if lang == "nb"
        else "; the receiver needs a permit to take it as waste"
    )


def _treatment(p: Params, lang: Language) -> str:
    text = knowledge.prose(str(p.get("treatment") or ""), lang)
    if not text:
        return ""
    return f"; {'krever først' if lang == 'nb' else 'needs first'}: {text}"


def _prose(name: str) -> Callable[[Params, Language], str]:
    """A basis or source from the knowledge base, in bokmål where the team has it."""
    return lambda p, lang: knowledge.prose(str(p.get(name) or ""), lang)


def _net(p: Params, lang: Language) -> str:
    if p.get("net_kg") is None:
        return ""
    if lang == "nb":
        return f", {number(p['net_kg'], lang)} kg etter utslippene fra transporten"
    return f", {number(p['net_kg'], lang)} kg net of transport"


def _haulage(p: Params, lang: Language) -> str:
    if p.get("haulage") is None:
        return ""
    if lang == "nb":
        return f", minus {number(p['haulage'], lang)} kr til transport"
    return f", less {number(p['haulage'], lang)} NOK for haulage"


def _others(p: Params, lang: Language) -> str:
    others = int(p.get("others") or 0)
    if not others:
        return ""
    if lang == "nb":
        return f", sammen med {others} andre leveranser"
    return f", with {others} other supplies"


def _how(p: Params, lang: Language) -> str:
    how = str(p.get("how") or "")
    words = {
        "steam tables (IAPWS-IF97)": ("damptabeller (IAPWS-IF97)", "steam tables (IAPWS-IF97)"),
        "net calorific value": ("nedre brennverdi", "net calorific value"),
    }
    nb, en = words.get(how, (how, how))
    return nb if lang == "nb" else en


def _waste(p: Params, lang: Language) -> str:
    return resource(str(p.get("code")), lang)


def _changed(p: Params, lang: Language) -> str:
    fields = [str(f) for f in p.get("changed") or ()]
    if not fields:
        return "oppføringen" if lang == "nb" else "the listing"
    return ", ".join(fields)


CATALOGUE: dict[str, Render] = {
    # companies
    "companies.different": _t("ulike bedrifter", "different companies"),
    "companies.same": _t(
        "en bedrifts tilbud foreslås aldri for dens eget behov",
        "a company's offer is never proposed to its own need",
    ),
    # what is traded
    "resource.same_code": _t(
        "samme kode i avfallslisten: {code}", "same List of Waste code {code}", code=_waste
    ),
    "resource.same_class": _t(
        "samme slags ressurs: {resource}",
        "the same kind of resource: {resource}",
        resource=_res("resource"),
    ),
    "resource.accepted": _t(
        "behovet tar imot {offer}", "the need accepts {offer}", offer=_res("offer")
    ),
    "resource.member": _t(
        "{code} er {resource_class} ({basis})",
        "{code} is {resource_class} ({basis})",
        code=_waste,
        resource_class=_res("resource_class"),
        basis=_prose("basis"),
    ),
    "resource.substitute": _t(
        "{offer} dekker et behov for {need} som {use} ({basis}){permit}{treatment}",
        "{offer} serves a need for {need} as {use} ({basis}){permit}{treatment}",
        offer=_res("offer"),
        need=_res("need"),
        use=_use(),
        permit=_permit,
        treatment=_treatment,
        basis=_prose("basis"),
    ),
    "resource.use": _t(
        "{offer} kan brukes som {use} etter kunnskapsbasen ({source}){permit}{treatment}",
        "{offer} can serve as {use} by the knowledge base ({source}){permit}{treatment}",
        offer=_res("offer"),
        use=_use(),
        permit=_permit,
        treatment=_treatment,
        source=_prose("source"),
    ),
    "resource.none": _t(
        "{offer} dekker ikke behovet for {need}",
        "{offer} does not serve a need for {need} (neither the same resource, one it "
        "accepts, nor a use the knowledge base allows)",
        offer=_res("offer"),
        need=_res("need"),
    ),
    "resource.forbidden": _t(
        "{offer} kan ikke brukes som {use} ({source})",
        "{offer} may not serve as {use} ({source})",
        offer=_res("offer"),
        use=_use(),
        source=_prose("source"),
    ),
    # permits
    "permit.declared": _t(
        "{code} er farlig avfall; mottakeren har oppgitt tillatelse til å ta imot det",
        "{code} is hazardous; the receiver has declared the permit to receive it",
        code=_waste,
    ),
    "permit.held": _t(
        "{code} er farlig avfall; mottakeren har tillatelse til å ta imot det",
        "{code} is hazardous; the receiver holds the permit to receive it",
        code=_waste,
    ),
    "permit.missing": _t(
        "{code} er farlig avfall; mottakeren har ikke tillatelse til å ta imot det",
        "{code} is hazardous; the receiver holds no permit to receive it",
        code=_waste,
    ),
    "permit.not_declared": _t(
        "{code} er farlig avfall og behovet gjelder {need}: mottakeren har ikke oppgitt "
        "tillatelse for det",
        "{code} is hazardous and the need is for {need}: the receiver has not declared a "
        "permit for it",
        code=_waste,
        need=_res("need"),
    ),
    # quantities
    "quantity.covers": _t(
        "tilbudet på {offered} dekker {covered} av de {needed} som trengs",
        "the offer of {offered} covers {covered} of the {needed} needed",
        offered=_qty("offered", "offered_unit"),
        covered=_qty("covered", "unit"),
        needed=_qty("needed", "unit"),
    ),
    "quantity.converted": _t(
        "tilbudet på {offered} tilsvarer {converted} etter {how}, og dekker {covered} av de "
        "{needed} som trengs",
        "the offer of {offered} is {converted} by {how}, and covers {covered} of the "
        "{needed} needed",
        offered=_qty("offered", "offered_unit"),
        converted=_qty("converted", "unit"),
        covered=_qty("covered", "unit"),
        needed=_qty("needed", "unit"),
        how=_how,
    ),
    "units.incompatible": _t(
        "{offer_unit} kan ikke regnes om til {need_unit} for denne ressursen",
        "{offer_unit} cannot be converted to {need_unit} for this resource (for steam state "
        "pressure and temperature, for fuels the net calorific value)",
    ),
    # availability
    "window.overlap": _t(
        "tilgjengelighetsperiodene overlapper", "the availability windows overlap"
    ),
    "window.apart": _t(
        "tilbudet er tilgjengelig {offer_from} til {offer_until}, behovet {need_from} til "
        "{need_until}: ingen overlapp",
        "the offer is available from {offer_from} to {offer_until}, the need from "
        "{need_from} to {need_until}: no overlap",
    ),
    # quality
    "quality.within_limit": _t(
        "{property} {stated} {unit} holder seg innenfor behovets grense på {bounds} {unit}",
        "{property} {stated} {unit} meets the need's limit of {bounds} {unit}",
        stated=_stated,
        property=_property,
        unit=_property_unit,
        bounds=_bounds,
    ),
    "quality.outside_limit": _t(
        "{property} {stated} {unit} holder ikke behovets grense på {bounds} {unit}",
        "{property} {stated} {unit} fails the need's limit of {bounds} {unit}",
        stated=_stated,
        property=_property,
        unit=_property_unit,
        bounds=_bounds,
    ),
    "quality.unstated": _t(
        "tilbudet oppgir ikke {property} i {unit}; behovet krever {bounds} {unit}",
        "the offer states no {property} in {unit}; the need wants {bounds} {unit}",
        property=_property,
        unit=_property_unit,
        bounds=_bounds,
    ),
    # distance and transport
    "distance.within": _t(
        "stedene ligger {km} km fra hverandre",
        "the sites are {km} km apart",
        km=_num("km"),
    ),
    "distance.too_far": _t(
        "stedene ligger {km} km fra hverandre, mer enn de {max_km} km som gjelder her",
        "the sites are {km} km apart, more than the {max_km} km that apply here",
        km=_num("km"),
        max_km=_num("max_km"),
    ),
    "transport.pipe": _t(
        "leveres i rør: ingen utslipp fra veitransport; pumpeenergien er ikke anslått",
        "moved by pipe: no road-transport emissions; the pumping energy is not estimated",
    ),
    # value
    "value.surplus": _t(
        "prisene gir {gap} kr per {unit} å dele: {total} kr i alt{haulage}",
        "the prices leave {gap} NOK per {unit} to share: {total} NOK in all{haulage}",
        gap=lambda p, lang: number(p.get("gap"), lang, 2),
        total=_num("total"),
        haulage=_haulage,
    ),
    "value.apart": _t(
        "prisene ligger {gap} kr per {unit} fra hverandre: en avtale krever at én part gir seg",
        "the prices are {gap} NOK per {unit} apart: a deal needs one side to move",
        gap=lambda p, lang: number(p.get("gap"), lang, 2),
    ),
    "co2e.avoided": _t(
        "unngår omtrent {kg} kg CO2e ({factors}){net}",
        "avoids about {kg} kg CO2e ({factors}){net}",
        kg=_num("kg"),
        factors=_factors,
        net=_net,
    ),
    "co2e.none": _t(
        "gir ingen CO2e-gevinst: erstatter {replaces}",
        "avoids no CO2e: it replaces {replaces}",
    ),
    # the park-wide plan
    "plan.part": _t(
        "del av planen for hele parken: {planned} av de {needed} som trengs{others}",
        "part of the park-wide plan: {planned} of the {needed} needed{others}",
        planned=_qty("planned", "unit"),
        needed=_qty("needed", "unit"),
        others=_others,
    ),
    "plan.blend": _t(
        "blandingen av planens leveranser holder behovets kvalitetskrav",
        "the blend of the plan's supplies keeps the need's quality limits",
    ),
    # why a proposal was withdrawn
    "retract.withdrawn": _t("oppføringen ble trukket tilbake", "the listing was withdrawn"),
    "retract.reserved": _t(
        "hele mengden i oppføringen er reservert av en kontrakt",
        "the listing's whole quantity is reserved by a contract",
    ),
    "retract.no_fit": _t(
        "etter en endring av {changed} i «{title}» passer handelen ikke lenger",
        "after a change to {changed} of '{title}', the trade no longer fits",
        changed=lambda p, lang: _changed(p, lang),
    ),
    "retract.outranked": _t(
        "etter en endring av {changed} i «{title}» ligger bedre motparter foran denne",
        "after a change to {changed} of '{title}', better counterparts rank above this one",
        changed=lambda p, lang: _changed(p, lang),
    ),
    "retract.plan_changed": _t(
        "etter en endring av {changed} i «{title}» holder ikke planen for hele parken slik "
        "den ble beregnet",
        "after a change to {changed} of '{title}', the park-wide plan no longer holds as it "
        "was computed",
        changed=lambda p, lang: _changed(p, lang),
    ),
    "retract.expired": _t(
        "forslaget utløp etter {days} dager uten avtale",
        "the proposal expired after {days} days without agreement",
        days=_num("days"),
    ),
    "retract.superseded": _t(
        "erstattet av en nyere plan for hele parken",
        "superseded by a newer park-wide plan",
    ),
    # why the listings could not reserve a contract's quantity (listing.reservation_refused)
    "listing.missing": _t("oppføringen finnes ikke", "no such listing"),
    "listing.not_open": _t(
        "oppføringen er {status}",
        "the listing is {status}",
        status=lambda p, lang: _status(p, lang),
    ),
    "listing.unit_mismatch": _t(
        "{unit} kan ikke regnes om til oppføringens enhet {listing_unit}",
        "{unit} cannot be converted to the listing's unit {listing_unit}",
        unit=lambda p, lang: _unit(str(p.get("unit")), lang),
        listing_unit=lambda p, lang: _unit(str(p.get("listing_unit")), lang),
    ),
    "listing.too_little": _t(
        "kontrakten trenger {needed}, men bare {free} er igjen",
        "the contract needs {needed}, but only {free} remain",
        needed=_qty("needed", "unit"),
        free=_qty("free", "unit"),
    ),
    "listing.too_little_in_period": _t(
        "kontrakten trenger mer enn oppføringen har i perioden fra {period}: bare {free} er igjen",
        "the contract needs more than the listing has in the period from {period}: only "
        "{free} remain",
        period=lambda p, lang: _day(p.get("period"), lang),
        free=_qty("free", "unit"),
    ),
    # why a contract ended or runs again, and why an invoice was credited; what a person
    # wrote (a cancellation's or a dispute's reason) travels beside the code, never in it
    "contract.completed": _t("alle leveransene er bekreftet", "every delivery confirmed"),
    "contract.reservation_refused": _t(
        "oppføringene kunne ikke reservere den{refusal}",
        "the listings could not reserve it{refusal}",
        refusal=lambda p, lang: _refusal(p, lang),
    ),
    "contract.cancelled_by_party": _t(
        "kansellert av en av partene", "cancelled by one of the parties"
    ),
    "contract.reopened_by_dispute": _t(
        "en bekreftet leveranse ble bestridt", "a confirmed delivery was disputed"
    ),
    "credit_note.delivery_disputed": _t(
        "leveransen ble bestridt etter fakturering", "delivery disputed after invoicing"
    ),
    "credit_note.voided_at_stripe": _t("annullert hos Stripe", "voided at Stripe"),
}

_LISTING_STATUS = {
    "draft": Bilingual("et utkast", "a draft"),
    "open": Bilingual("åpen", "open"),
    "reserved": Bilingual("reservert", "reserved"),
    "closed": Bilingual("lukket", "closed"),
    "withdrawn": Bilingual("trukket tilbake", "withdrawn"),
}


def _status(p: Params, lang: Language) -> str:
    status = str(p.get("status"))
    found = _LISTING_STATUS.get(status)
    return found.in_(lang) if found is not None else status


def _unit(unit: str, lang: Language) -> str:
    found = _PROPERTY_UNITS.get(unit)
    return found.in_(lang) if found is not None else unit


def _day(value: Any, lang: Language) -> str:
    """An ISO date as each language writes it: 1. mars 2027, 1 March 2027."""
    try:
        when = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if lang == "nb":
        return f"{when.day}. {_MONTHS_NB.split()[when.month - 1]} {when.year}"
    return f"{when.day} {_MONTHS_EN.split()[when.month - 1]} {when.year}"


_MONTHS_NB = "januar februar mars april mai juni juli august september oktober november desember"
_MONTHS_EN = "January February March April May June July August September October November December"


def _refusal(p: Params, lang: Language) -> str:
    """The listings' own refusal (``{"code": ..., "params": ...}``) after a colon; none from
    a listings service older than the codes."""
    refusal = p.get("refusal")
    if not isinstance(refusal, Mapping) or not refusal.get("code"):
        return ""
    return ": " + render(str(refusal["code"]), refusal.get("params") or {}, lang)


def render(code: str, params: Params, language: Language) -> str:
    """The reason in a language; a code not in the catalogue reads as its code."""
    found = CATALOGUE.get(code)
    if found is None:
        return code
    return found(params, language)


def in_words(code: str, params: Params) -> Bilingual:
    return Bilingual(render(code, params, "nb"), render(code, params, "en"))


def known(code: str) -> bool:
    return code in CATALOGUE
