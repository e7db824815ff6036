"""The matcher's reasons for a proposal, in Norwegian bokmål and in English.

The matching service writes each reason as an English sentence (its events and API are
read by developers and partners' systems). People read them in the portal and in their
notifications, in their own language: each kind of sentence the matcher writes is
recognised here by its shape and written again in both languages, with its numbers and
codes. A sentence of a shape not known here stays as the matcher wrote it;
tests/unit/test_reasons.py fails when the matcher writes a kind not known here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, NamedTuple

from shared import knowledge
from shared.ewc import spaced
from shared.resources import RESOURCE_CLASSES

Language = Literal["nb", "en"]


class Bilingual(NamedTuple):
    nb: str
    en: str

    def in_(self, language: str) -> str:
        return self.nb if language == "nb" else self.en


Convert = Callable[[dict[str, str], Language], dict[str, str]]

_NUMBER = r"-?[\d,]+(?:\.\d+)?"
_QUANTITY = r"[\d.]+ \S+"
_BOUND_WORDS = (
    ("at least", Bilingual("minst", "at least")),
    ("at most", Bilingual("høyst", "at most")),
    (" to ", Bilingual(" til ", " to ")),
    (" and ", Bilingual(" og ", " and ")),
)


def _code(parts: dict[str, str], language: Language) -> dict[str, str]:
    """``030105`` as ``03 01 05``."""
    return {**parts, "code": spaced(parts["code"])}


def _resource(value: str, language: Language) -> str:
    """``class:heat`` or ``heat`` as the class's label; a waste code as ``03 01 05``."""
    kind = RESOURCE_CLASSES.get(value.removeprefix("class:"))
    if kind is not None:
        return (kind.label_nb or kind.label) if language == "nb" else kind.label
    if re.fullmatch(r"\d{6}", value):
        return spaced(value)
    return value


def _resources(*names: str) -> Convert:
    def convert(parts: dict[str, str], language: Language) -> dict[str, str]:
        return {k: _resource(v, language) if k in names else v for k, v in parts.items()}

    return convert


# Who published the emission factors (shared/data/emission-factors.csv), as people know them.
_PUBLISHERS = (
    "DESNZ",
    "ICE",
    "NVE",
    "Nasjonale standardfaktorer",
    "Norsk Fjernvarme",
    "Yara",
)


def _sources(parts: dict[str, str], language: Language) -> dict[str, str]:
    """The emission factors' keys (``disp.any.efw``) as their publishers and years."""
    factors = knowledge.emission_factors()
    named = []
    for key in (k.strip() for k in parts["factors"].split(",")):
        factor = factors.get(key)
        publisher = next((p for p in _PUBLISHERS if factor and factor.source.startswith(p)), None)
        if factor is None or publisher is None:
            named.append(key)
        else:
            named.append(f"{publisher} {factor.year}" if factor.year.isdigit() else publisher)
    label = "kilde" if language == "nb" else "source"
    return {**parts, "factors": f"{label}: {', '.join(dict.fromkeys(named))}"}


def _bounds(parts: dict[str, str], language: Language) -> dict[str, str]:
    """``at least 5 and at most 45``, ``30 to 40``: the words between the numbers."""
    out = dict(parts)
    for key in ("stated", "bounds"):
        text = out[key]
        for english, said in _BOUND_WORDS:
            text = text.replace(english, said.in_(language))
        out[key] = text
    return out


# The parts that hold numbers as the matcher writes them (1,874.5); bokmål writes 1 874,5.
_NUMERIC = frozenset(
    {"km", "gap", "total", "haulage", "kg", "net", "offered", "covered", "needed", "planned"}
    | {"stated", "bounds"}
)


def _nb_numbers(parts: dict[str, str]) -> dict[str, str]:
    def nb(text: str) -> str:
        return re.sub(
            r"\d[\d,]*(?:\.\d+)?",
            lambda m: m.group(0).replace(",", "\u00a0").replace(".", ","),
            text,
        )

    return {k: nb(v) if k in _NUMERIC else v for k, v in parts.items()}


_SHAPES: tuple[tuple[str, Bilingual, Convert | None], ...] = (
    (
        r"same List of Waste code (?P<code>\d{6})",
        Bilingual("samme kode i avfallslisten: {code}", "same List of Waste code {code}"),
        _code,
    ),
    (
        r"same resource class (?P<kind>\S+)",
        Bilingual("samme slags ressurs: {kind}", "the same kind of resource: {kind}"),
        _resources("kind"),
    ),
    (
        r"(?P<offer>\S+) serves a need for (?P<need>\S+) as (?P<use>.+) \((?P<basis>.+)\)",
        Bilingual(
            "{offer} dekker et behov for {need} som {use} ({basis})",
            "{offer} serves a need for {need} as {use} ({basis})",
        ),
        _resources("offer", "need"),
    ),
    (
        r"(?P<waste>.+) is hazardous; the receiver declared the permit to receive it",
        Bilingual(
            "{waste} er farlig avfall; mottakeren har oppgitt tillatelse til å ta imot det",
            "{waste} is hazardous; the receiver has declared the permit to receive it",
        ),
        None,
    ),
    (
        r"(?P<waste>.+) is hazardous; the receiver holds the permit to receive it",
        Bilingual(
            "{waste} er farlig avfall; mottakeren har tillatelse til å ta imot det",
            "{waste} is hazardous; the receiver holds the permit to receive it",
        ),
        None,
    ),
    (
        rf"the offer of (?P<offered>{_QUANTITY}) covers (?P<covered>{_QUANTITY}) of the "
        rf"(?P<needed>{_QUANTITY}) needed",
        Bilingual(
            "tilbudet på {offered} dekker {covered} av de {needed} som trengs",
            "the offer of {offered} covers {covered} of the {needed} needed",
        ),
        None,
    ),
    (
        r"(?P<name>\S+) (?P<stated>.+?) (?P<unit>\S+) meets the need's (?P<bounds>.+) (?P=unit)",
        Bilingual(
            "{name} {stated} {unit} holder seg innenfor behovets grense på {bounds} {unit}",
            "{name} {stated} {unit} meets the need's limit of {bounds} {unit}",
        ),
        _bounds,
    ),
    (
        rf"the sites are (?P<km>{_NUMBER}) km apart",
        Bilingual("stedene ligger {km} km fra hverandre", "the sites are {km} km apart"),
        None,
    ),
    (
        rf"prices leave (?P<gap>{_NUMBER}) NOK/(?P<unit>\S+) to share: (?P<total>{_NUMBER}) "
        rf"NOK in all, less (?P<haulage>{_NUMBER}) NOK haulage",
        Bilingual(
            "prisene gir {gap} kr per {unit} å dele: {total} kr i alt, minus {haulage} kr til "
            "transport",
            "the prices leave {gap} NOK per {unit} to share: {total} NOK in all, less "
            "{haulage} NOK for haulage",
        ),
        None,
    ),
    (
        rf"prices leave (?P<gap>{_NUMBER}) NOK/(?P<unit>\S+) to share: (?P<total>{_NUMBER}) "
        r"NOK in all",
        Bilingual(
            "prisene gir {gap} kr per {unit} å dele: {total} kr i alt",
            "the prices leave {gap} NOK per {unit} to share: {total} NOK in all",
        ),
        None,
    ),
    (
        rf"prices are (?P<gap>{_NUMBER}) NOK/(?P<unit>\S+) apart: a deal needs one side "
        r"to move",
        Bilingual(
            "prisene ligger {gap} kr per {unit} fra hverandre: en avtale krever at én part gir seg",
            "the prices are {gap} NOK per {unit} apart: a deal needs one side to move",
        ),
        None,
    ),
    (
        rf"avoids about (?P<kg>{_NUMBER}) kg CO2e \((?P<factors>.*)\), (?P<net>{_NUMBER}) "
        r"kg net of road transport",
        Bilingual(
            "unngår omtrent {kg} kg CO2e ({factors}), {net} kg etter utslippene fra veitransporten",
            "avoids about {kg} kg CO2e ({factors}), {net} kg after the road transport's emissions",
        ),
        _sources,
    ),
    (
        rf"avoids about (?P<kg>{_NUMBER}) kg CO2e \((?P<factors>.*)\)",
        Bilingual(
            "unngår omtrent {kg} kg CO2e ({factors})", "avoids about {kg} kg CO2e ({factors})"
        ),
        _sources,
    ),
    (
        rf"part of the park-wide plan (?P<plan>\S+): (?P<planned>{_QUANTITY}) of the "
        rf"(?P<needed>{_QUANTITY}) needed, with (?P<others>\d+) other supplies",
        Bilingual(
            "del av planen for hele parken: {planned} av de {needed} som trengs, sammen med "
            "{others} andre leveranser",
            "part of the park-wide plan: {planned} of the {needed} needed, with {others} "
            "other supplies",
        ),
        None,
    ),
    (
        rf"part of the park-wide plan (?P<plan>\S+): (?P<planned>{_QUANTITY}) of the "
        rf"(?P<needed>{_QUANTITY}) needed",
        Bilingual(
            "del av planen for hele parken: {planned} av de {needed} som trengs",
            "part of the park-wide plan: {planned} of the {needed} needed",
        ),
        None,
    ),
    (
        r"the blend of the plan's supplies keeps the need's quality limits",
        Bilingual(
            "blandingen av planens leveranser holder behovets kvalitetskrav",
            "the blend of the plan's supplies keeps the need's quality limits",
        ),
        None,
    ),
)
_COMPILED = tuple((re.compile(f"^{shape}$"), said, convert) for shape, said, convert in _SHAPES)


def known(reason: str) -> bool:
    """Whether this kind of reason is known here."""
    return any(pattern.match(reason) for pattern, _said, _convert in _COMPILED)


def in_words(reason: str) -> Bilingual:
    """The matcher's reason in both languages (as written, in both, if of an unknown kind)."""
    for pattern, said, convert in _COMPILED:
        found = pattern.match(reason)
        if found:
            parts = {k: v for k, v in found.groupdict().items() if v is not None}
            nb = _nb_numbers(convert(parts, "nb") if convert else parts)
            en = convert(parts, "en") if convert else parts
            return Bilingual(said.nb.format(**nb), said.en.format(**en))
    return Bilingual(reason, reason)
