"""The knowledge base, read from ``shared/data``: which resources serve which uses (the use
graph, with the basis, permit and treatment of each row, and the uses it forbids), which
List of Waste codes belong to which resource class, which resources stand in for which,
what a company of a NACE activity typically has and needs, and the emission factors impact
accounting uses. No I/O beyond reading the shipped files once.

A resource is a six-digit List of Waste code, ``class:<name>`` for a resource class, or
(in the use graph only) a sub-chapter prefix ``0201*`` standing for every non-hazardous
code under it.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal

from shared.ewc import catalogue
from shared.resources import MATERIAL_PROPERTIES, RESOURCE_CLASSES, Property, stated
from shared.units import convert, is_unit

DATA = Path(__file__).parent / "data"
BASIS_KINDS = ("end-of-waste", "BREF", "regulation", "standard", "documented case")


class KnowledgeError(ValueError):
    """A knowledge-base file is malformed; the message names the file and row."""


def _rows(name: str) -> Iterable[tuple[str, dict[str, str]]]:
    path = DATA / name
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            yield f"{path.name}:{line}", {k: (v or "").strip() for k, v in row.items()}


def _check_resource(resource: str, where: str, prefix: bool = False) -> None:
    if resource.startswith("class:"):
        if resource.removeprefix("class:") not in RESOURCE_CLASSES:
            raise KnowledgeError(f"{where}: unknown resource class {resource!r}")
    elif prefix and re.fullmatch(r"\d{4}\*", resource):
        if not any(code.startswith(resource[:4]) for code in catalogue()):
            raise KnowledgeError(f"{where}: no List of Waste code under {resource!r}")
    elif resource not in catalogue():
        raise KnowledgeError(f"{where}: {resource!r} is not a List of Waste code")


@cache
def version() -> str:
    """A short fingerprint of the files that decide which resources can meet: an index
    built from another version is re-keyed."""
    digest = hashlib.sha256()
    for name in ("uses.csv", "use-names.csv", "class-members.csv", "substitutes.csv"):
        digest.update((DATA / name).read_bytes())
    return digest.hexdigest()[:16]


# --- uses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UseName:
    use: str
    label: str
    label_nb: str  # the team's translation


@cache
def use_names() -> dict[str, UseName]:
    found: dict[str, UseName] = {}
    for where, row in _rows("use-names.csv"):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", row["use"]) or not row["label"]:
            raise KnowledgeError(f"{where}: a use needs a snake-case id and a label")
        if row["use"] in found:
            raise KnowledgeError(f"{where}: duplicate use {row['use']}")
        if not row["label_nb"]:
            raise KnowledgeError(f"{where}: label_nb is empty")
        found[row["use"]] = UseName(row["use"], row["label"], row["label_nb"])
    return found


Verdict = Literal["allowed", "forbidden"]


@dataclass(frozen=True)
class UseRule:
    """A row of the use graph: whether ``resource`` may serve ``use``, and on what basis."""

    resource: str
    use: str
    verdict: Verdict
    permit: bool  # the receiver needs a permit (waste status, recovery operation)
    treatment: str  # a step the material needs first, or ""
    basis: str  # end-of-waste, BREF, regulation, standard, documented case
    source: str

    @property
    def allowed(self) -> bool:
        return self.verdict == "allowed"


@cache
def use_graph() -> dict[tuple[str, str], tuple[UseRule, ...]]:
    """(resource, use) → its rows (a forbidding row and an allowing one may share a key)."""
    table: dict[tuple[str, str], list[UseRule]] = defaultdict(list)
    names = use_names()
    for where, row in _rows("uses.csv"):
        if not row.get("source") or not row.get("basis"):
            raise KnowledgeError(f"{where}: every row needs its basis and source")
        if row["basis"] not in BASIS_KINDS:
            raise KnowledgeError(f"{where}: basis is one of {', '.join(BASIS_KINDS)}")
        if row["use"] not in names:
            raise KnowledgeError(f"{where}: unknown use {row['use']!r}")
        if row["verdict"] not in ("allowed", "forbidden"):
            raise KnowledgeError(f"{where}: verdict is allowed or forbidden")
        if row["permit"] not in ("yes", "no"):
            raise KnowledgeError(f"{where}: permit is yes or no")
        _check_resource(row["resource"], where, prefix=True)
        rule = UseRule(
            resource=row["resource"],
            use=row["use"],
            verdict="allowed" if row["verdict"] == "allowed" else "forbidden",
            permit=row["permit"] == "yes",
            treatment=row["treatment"],
            basis=row["basis"],
            source=row["source"],
        )
        if rule in table[(rule.resource, rule.use)]:
            raise KnowledgeError(f"{where}: duplicate row")
        table[(rule.resource, rule.use)].append(rule)
    return {key: tuple(rules) for key, rules in table.items()}


@dataclass(frozen=True)
class Member:
    code: str
    resource_class: str
    basis: str


@cache
def members() -> dict[str, tuple[Member, ...]]:
    """class name → the List of Waste codes of that kind of resource."""
    table: dict[str, list[Member]] = defaultdict(list)
    for where, row in _rows("class-members.csv"):
        _check_resource(row["code"], where)
        _check_resource(f"class:{row['class']}", where)
        if not row["basis"]:
            raise KnowledgeError(f"{where}: every row needs its basis")
        if catalogue()[row["code"]].hazardous:
            raise KnowledgeError(f"{where}: hazardous codes are matched by their code alone")
        table[row["class"]].append(Member(row["code"], row["class"], row["basis"]))
    return {name: tuple(found) for name, found in table.items()}


@cache
def classes_of_code() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = defaultdict(list)
    for name, found in members().items():
        for member in found:
            table[member.code].append(f"class:{name}")
    return {code: tuple(sorted(found)) for code, found in table.items()}


@cache
def properties_of(resource: str) -> tuple[Property, ...]:
    """The quality properties a listing of ``resource`` may state: a class's own; for a
    List of Waste code (or a sub-chapter ``0201*``) what any material states, then the
    properties of the classes the code belongs to."""
    if resource.startswith("class:"):
        kind = RESOURCE_CLASSES.get(resource.removeprefix("class:"))
        return kind.properties if kind else ()
    found = {p.name: p for p in MATERIAL_PROPERTIES}
    for name in classes_of_code().get(resource, ()):
        for p in RESOURCE_CLASSES[name.removeprefix("class:")].properties:
            found.setdefault(p.name, p)
    return tuple(found.values())


def properties_for(resources: Iterable[str]) -> tuple[Property, ...]:
    """The properties known for any of ``resources`` (a need's resource and those it also
    accepts, or every resource that serves its use), each name once."""
    found: dict[str, Property] = {}
    for resource in resources:
        for p in properties_of(resource):
            found.setdefault(p.name, p)
    return tuple(found.values())


def listing_resources(
    ewc_code: str | None, resource_class: str | None, use: str | None, accepts: Iterable[str]
) -> tuple[str, ...]:
    """What a listing is about, as resources: its code or class and what a need also
    accepts; a need that names only a use, every resource that serves it."""
    named = [r for r in (ewc_code, f"class:{resource_class}" if resource_class else None) if r]
    if not named and use:
        named = sorted(serving(use))
    return (*named, *accepts)


def _levels(resource: str) -> list[str]:
    """The use-graph keys that speak for a resource, most specific first."""
    if resource.startswith("class:"):
        return [resource]
    entry = catalogue().get(resource)
    if entry is None:
        return [resource]
    if entry.hazardous:  # a hazardous code is served only by rows naming it
        return [resource]
    return [resource, f"{resource[:4]}*", *classes_of_code().get(resource, ())]


@cache
def rule_for(resource: str, use: str) -> UseRule | None:
    """The row that decides whether ``resource`` may serve ``use``: the most specific row
    (code, then sub-chapter, then the code's class); at one level a forbidding row wins.
    None when the knowledge base says nothing."""
    table = use_graph()
    for key in _levels(resource):
        rules = table.get((key, use))
        if rules:
            forbidding = [r for r in rules if not r.allowed]
            return forbidding[0] if forbidding else rules[0]
    return None


@cache
def serving(use: str) -> frozenset[str]:
    """Every resource (code or class) the knowledge base allows for ``use``."""
    candidates = {*catalogue(), *(f"class:{name}" for name in RESOURCE_CLASSES)}
    return frozenset(
        r for r in candidates if (rule := rule_for(r, use)) is not None and rule.allowed
    )


@cache
def uses_of(resource: str) -> tuple[UseRule, ...]:
    """The uses the knowledge base allows for a resource, each with its deciding row."""
    found = []
    for use in use_names():
        rule = rule_for(resource, use)
        if rule is not None and rule.allowed:
            found.append(rule)
    return tuple(found)


# --- substitutes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Substitute:
    """An offer's resource that serves a need named by another resource, for a use."""

    need_resource: str
    offer_resource: str
    use: str
    basis: str


@cache
def substitutes() -> dict[str, dict[str, Substitute]]:
    """need resource → offer resource → why it serves."""
    table: dict[str, dict[str, Substitute]] = {}
    for where, row in _rows("substitutes.csv"):
        found = Substitute(row["need_resource"], row["offer_resource"], row["use"], row["basis"])
        for resource in (found.need_resource, found.offer_resource):
            _check_resource(resource, where)
        if found.use not in use_names() or not found.basis:
            raise KnowledgeError(f"{where}: every row needs a known use and its basis")
        if found.need_resource == found.offer_resource:
            raise KnowledgeError(f"{where}: a resource always serves itself; drop the row")
        if found.offer_resource in table.get(found.need_resource, {}):
            raise KnowledgeError(f"{where}: duplicate row")
        table.setdefault(found.need_resource, {})[found.offer_resource] = found
    return table


@cache
def _substitutes_for(offer_resource: str) -> tuple[str, ...]:
    return tuple(sorted(need for need, offers in substitutes().items() if offer_resource in offers))


# --- how an offer serves a need --------------------------------------------------------

LinkKind = Literal["same", "accepted", "member", "substitute", "use"]


@dataclass(frozen=True)
class Link:
    """Why an offer's resource serves a need: the kind of rule and its row."""

    kind: LinkKind
    use: str | None = None
    rule: UseRule | None = None
    basis: str = ""

    @property
    def permit(self) -> bool:
        return self.rule is not None and self.rule.permit

    @property
    def treatment(self) -> str:
        return self.rule.treatment if self.rule is not None else ""


def link(
    offer_resource: str,
    need_resource: str | None,
    need_use: str | None = None,
    accepts: Iterable[str] = (),
) -> Link | None:
    """How an offer of ``offer_resource`` serves a need for ``need_resource`` (or any of
    ``accepts``, or the use ``need_use``), or None when it does not. A use the knowledge
    base forbids for the resource rules it out whatever else the need says."""
    return _link(offer_resource, need_resource, need_use, tuple(accepts))


@cache
def _link(
    offer_resource: str,
    need_resource: str | None,
    need_use: str | None,
    accepts: tuple[str, ...],
) -> Link | None:
    retired = RESOURCE_CLASSES.get(offer_resource.removeprefix("class:"))
    if offer_resource.startswith("class:") and (retired is None or retired.retired):
        return None  # a retired class (by_product) says nothing of what the thing is
    if need_use is not None:
        rule = rule_for(offer_resource, need_use)
        if rule is not None and not rule.allowed:
            return None
    if need_resource is not None and offer_resource == need_resource:
        return Link("same", need_use, rule_for(offer_resource, need_use) if need_use else None)
    if offer_resource in accepts:
        return Link("accepted", need_use)
    if need_resource is not None:
        if need_resource.startswith("class:") and need_resource in classes_of_code().get(
            offer_resource, ()
        ):
            return Link("member", None, None, _member_basis(offer_resource, need_resource))
        substitute = substitutes().get(need_resource, {}).get(offer_resource)
        if substitute is not None:
            rule = rule_for(offer_resource, substitute.use)
            if rule is None or rule.allowed:
                return Link("substitute", substitute.use, rule, substitute.basis)
    if need_use is not None:
        rule = rule_for(offer_resource, need_use)
        if rule is not None and rule.allowed:
            return Link("use", need_use, rule, rule.source)
    return None


def _member_basis(code: str, resource_class: str) -> str:
    return next(
        (
            m.basis
            for m in members().get(resource_class.removeprefix("class:"), ())
            if m.code == code
        ),
        "",
    )


def offer_keys(offer_resource: str) -> frozenset[str]:
    """What an offer of this resource is looked up by: the keys of every need it could
    serve (``need_keys``). An offer and a need can match only when their keys meet."""
    keys = {offer_resource, *classes_of_code().get(offer_resource, ())}
    keys.update(_substitutes_for(offer_resource))
    keys.update(f"use:{rule.use}" for rule in uses_of(offer_resource))
    return frozenset(keys)


def need_keys(
    need_resource: str | None, need_use: str | None = None, accepts: Iterable[str] = ()
) -> frozenset[str]:
    keys = {*accepts}
    if need_resource is not None:
        keys.add(need_resource)
    if need_use is not None:
        keys.add(f"use:{need_use}")
    return frozenset(keys)


def accepted_by(
    need_resource: str | None, need_use: str | None = None, accepts: Iterable[str] = ()
) -> set[str]:
    """Every resource an offer may have to serve this need, the need's own included."""
    accepts = tuple(accepts)
    found: set[str] = set(accepts)
    if need_resource is not None:
        found.add(need_resource)
        found.update(substitutes().get(need_resource, {}))
        if need_resource.startswith("class:"):
            found.update(m.code for m in members().get(need_resource.removeprefix("class:"), ()))
    if need_use is not None:
        found.update(serving(need_use))
    return {r for r in found if link(r, need_resource, need_use, accepts) is not None}


def served_by(offer_resource: str) -> set[str]:
    """Every need resource this offer's resource may serve (not counting uses), its own
    included."""
    keys = offer_keys(offer_resource)
    return {k for k in keys if not k.startswith("use:")}


# --- NACE activities -------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    code: str
    parent: str
    level: int
    name: str
    name_nb: str  # the team's bokmål translation (not SSB's official SN2007 text)

    def named(self, language: str) -> str:
        """The activity's name in ``language`` (``nb``: bokmål; any other: English)."""
        return self.name_nb if language == "nb" else self.name


@cache
def nace() -> dict[str, Activity]:
    """The NACE list shipped (see shared/data/README.md), by code (``16.11``); a row
    without its English or bokmål name is refused."""
    found: dict[str, Activity] = {}
    for where, row in _rows("nace.csv"):
        for column in ("name", "name_nb"):
            if not row.get(column):
                raise KnowledgeError(f"{where}: {column} is empty")
        found[row["code"]] = Activity(
            row["code"], row["parent"], int(row["level"]), row["name"], row["name_nb"]
        )
    return found


def activity_name(code: str, language: str) -> str:
    """A NACE code's name in ``language`` (``nb`` or ``en``); an unknown code as it is."""
    activity = nace().get(code.strip())
    return activity.named(language) if activity is not None else code


@dataclass(frozen=True)
class Flow:
    """What a company of a NACE activity typically has (``output``: a resource) or needs
    (``input``: a use), and why the knowledge base says so."""

    nace: str
    direction: Literal["output", "input"]
    resource: str  # a resource for an output, a use for an input
    basis: str


@cache
def nace_flows() -> tuple[Flow, ...]:
    found = []
    activities = nace()
    for where, row in _rows("nace-flows.csv"):
        if row["nace"] not in activities:
            raise KnowledgeError(f"{where}: {row['nace']!r} is not in the NACE list")
        if not row["basis"]:
            raise KnowledgeError(f"{where}: every row needs its basis")
        if row["direction"] == "output":
            _check_resource(row["resource"], where)
        elif row["direction"] == "input":
            if row["resource"] not in use_names():
                raise KnowledgeError(f"{where}: unknown use {row['resource']!r}")
        else:
            raise KnowledgeError(f"{where}: direction is output or input")
        direction: Literal["output", "input"] = (
            "output" if row["direction"] == "output" else "input"
        )
        found.append(Flow(row["nace"], direction, row["resource"], row["basis"]))
    return tuple(found)


@dataclass(frozen=True)
class Precedent:
    """A documented exchange somewhere: a company of the activity ``receiver_nace`` took
    ``resource`` (for ``use``, when its need named one) at ``place``, as ``source``
    describes. Uncovering ranks first the kinds of company that have taken a resource
    before."""

    resource: str
    receiver_nace: str
    use: str | None
    place: str
    place_nb: str
    source: str


@cache
def precedents() -> tuple[Precedent, ...]:
    found = []
    activities = nace()
    for where, row in _rows("precedents.csv"):
        _check_resource(row["resource"], where)
        if row["receiver_nace"] not in activities:
            raise KnowledgeError(f"{where}: {row['receiver_nace']!r} is not in the NACE list")
        if row["use"] and row["use"] not in use_names():
            raise KnowledgeError(f"{where}: unknown use {row['use']!r}")
        if not row["source"]:
            raise KnowledgeError(f"{where}: every precedent needs its source")
        if not row["place"] or not row["place_nb"]:
            raise KnowledgeError(f"{where}: every precedent needs its place, in both languages")
        found.append(
            Precedent(
                row["resource"],
                row["receiver_nace"],
                row["use"] or None,
                row["place"],
                row["place_nb"],
                row["source"],
            )
        )
    return tuple(found)


def flows_of(code: str) -> list[Flow]:
    """The typical outputs and inputs of an activity: its own rows, or else its parent's
    (a company registered under ``16.1`` or ``16.110`` gets those of ``16.11``)."""
    table = nace()
    rows = nace_flows()
    own = [f for f in rows if f.nace == code]
    if own:
        return own
    children = [f for f in rows if f.nace in table and table[f.nace].parent == code]
    if children:
        return children
    activity = table.get(code)
    if activity is not None and activity.parent in table:
        return flows_of(activity.parent)
    return []


# --- the knowledge base's prose in bokmål -----------------------------------------------

# A reference to the List of Waste inside a basis: its words come from the list itself.
_SUB_CHAPTER = re.compile(
    r"List of Waste sub-chapter (\d\d) (\d\d) \((.*)\): the wastes of this activity"
)
_CODE = re.compile(r"List of Waste (\d\d) (\d\d) (\d\d) \((.*)\)")


@cache
def prose_nb() -> dict[str, str]:
    """The team's bokmål for the parts of the knowledge base's bases, sources and
    treatments that people read (``prose-nb.csv``; not an official translation)."""
    found: dict[str, str] = {}
    for where, row in _rows("prose-nb.csv"):
        if not row["text"] or not row["text_nb"]:
            raise KnowledgeError(f"{where}: text and text_nb are both needed")
        if row["text"] in found:
            raise KnowledgeError(f"{where}: duplicate text")
        found[row["text"]] = row["text_nb"]
    return found


def _part_nb(part: str) -> str | None:
    sub_chapter = _SUB_CHAPTER.fullmatch(part)
    if sub_chapter is not None:
        prefix = sub_chapter[1] + sub_chapter[2]
        entry = next((e for c, e in catalogue().items() if c.startswith(prefix)), None)
        if entry is None:
            return None
        return (
            f"Avfallslistens underkapittel {sub_chapter[1]} {sub_chapter[2]} "
            f"({entry.sub_chapter_nb}): avfallet fra denne virksomheten"
        )
    code = _CODE.fullmatch(part)
    if code is not None:
        found = catalogue().get(code[1] + code[2] + code[3])
        if found is None:
            return None
        return f"Avfallslisten {code[1]} {code[2]} {code[3]} ({found.description_nb})"
    return prose_nb().get(part)


def prose(text: str, language: str) -> str:
    """A basis, source or treatment of the knowledge base in ``language``: as written in
    English; in bokmål part by part (parts are separated by "; "), a List of Waste reference
    in the list's bokmål. A part nobody translated stays English (a unit test fails for
    one in the shipped files)."""
    if language != "nb" or not text:
        return text
    return "; ".join(_part_nb(part) or part for part in text.split("; "))


def untranslated_prose() -> list[str]:
    """The parts of the shipped bases, sources and treatments without bokmål."""
    texts = [f.basis for f in nace_flows()]
    for rules in use_graph().values():
        texts += [t for r in rules for t in (r.source, r.treatment)]
    texts += [m.basis for found in members().values() for m in found]
    texts += [s.basis for found in substitutes().values() for s in found.values()]
    return sorted(
        {part for text in texts if text for part in text.split("; ") if _part_nb(part) is None}
    )


# --- emission factors and impact -------------------------------------------------------


@dataclass(frozen=True)
class EmissionFactor:
    key: str
    description: str
    unit: str
    value: Decimal
    source: str
    year: str  # as the source gives it: "2025", or "v2.0 (c.2011; year UNVERIFIED)"
    notes: str


@cache
def emission_factors() -> dict[str, EmissionFactor]:
    """The team's factors (emission-factors.csv, unchanged) and those the product added
    with their own sources (emission-factors-added.csv)."""
    factors: dict[str, EmissionFactor] = {}
    for name in ("emission-factors.csv", "emission-factors-added.csv"):
        for where, row in _rows(name):
            try:
                factor = EmissionFactor(
                    key=row["key"],
                    description=row["description"],
                    unit=row["unit"],
                    value=Decimal(row["value"]),
                    source=row["source"],
                    year=row["year"],
                    notes=row["notes"],
                )
            except (InvalidOperation, ValueError, KeyError) as exc:
                raise KnowledgeError(f"{where}: {exc!r}") from exc
            if not factor.source or not factor.year:
                raise KnowledgeError(f"{where}: every factor needs its source and year")
            if factor.key in factors:
                raise KnowledgeError(f"{where}: duplicate key {factor.key}")
            factors[factor.key] = factor
    return factors


_CONDITION = re.compile(r"^(?P<name>[a-z_0-9]+) (?P<op><=|>=) (?P<value>[\d.]+) (?P<unit>\S+)$")


@dataclass(frozen=True)
class Impact:
    """What one unit of a resource exchanged for a use avoids: the production it replaces
    (times a ratio, less the reprocessing the closed-loop row already counts, scaled by a
    stated property where the factor is per unit of it) and the disposal route it escapes;
    counted only when the offer meets the row's condition."""

    resource: str
    use: str
    replaces: str
    replaces_factor: str
    replaces_ratio: str
    reprocessing_factor: str
    scaled_by: str  # "nitrogen %": the replaces factor is per t of that content
    condition: str  # "salinity <= 1 g/l": counted only when the offer states it so
    counterfactual: str
    counterfactual_factor: str
    basis: str

    @property
    def factor_keys(self) -> tuple[str, ...]:
        return tuple(
            key
            for key in (self.replaces_factor, self.reprocessing_factor, self.counterfactual_factor)
            if key
        )

    @property
    def ratio(self) -> Decimal:
        return Decimal(self.replaces_ratio or "1")


@cache
def impacts() -> dict[tuple[str, str], Impact]:
    """(resource, use) → its impact row; ``use`` is "" for the row that holds whatever the
    use. A resource without a row is not estimated."""
    table: dict[tuple[str, str], Impact] = {}
    factors = emission_factors()
    for where, row in _rows("impact.csv"):
        impact = Impact(**row)
        _check_resource(impact.resource, where)
        if impact.use and impact.use not in use_names():
            raise KnowledgeError(f"{where}: unknown use {impact.use!r}")
        key = (impact.resource, impact.use)
        if key in table:
            raise KnowledgeError(f"{where}: duplicate row for {impact.resource} {impact.use}")
        if not impact.basis:
            raise KnowledgeError(f"{where}: a row needs its basis")
        if not impact.factor_keys and impact.counterfactual != "none":
            raise KnowledgeError(f"{where}: a row needs a factor (or counterfactual none)")
        if impact.reprocessing_factor and not impact.replaces_factor:
            raise KnowledgeError(f"{where}: reprocessing without the production it replaces")
        if impact.condition and not _CONDITION.match(impact.condition):
            raise KnowledgeError(f"{where}: condition reads like 'salinity <= 1 g/l'")
        if impact.scaled_by and len(impact.scaled_by.split()) != 2:
            raise KnowledgeError(f"{where}: scaled_by reads like 'nitrogen %'")
        try:
            impact.ratio  # noqa: B018
        except InvalidOperation as exc:
            raise KnowledgeError(f"{where}: replaces_ratio is a number") from exc
        for key_ in impact.factor_keys:
            if key_ not in factors:
                raise KnowledgeError(f"{where}: unknown emission factor {key_}")
        units = {factors[k].unit for k in impact.factor_keys if k != impact.replaces_factor}
        if impact.replaces_factor and not impact.scaled_by:
            units.add(factors[impact.replaces_factor].unit)
        if len(units) > 1:
            raise KnowledgeError(f"{where}: factors in different units {sorted(units)}")
        table[key] = impact
    return table


@cache
def impact_for(resource: str, use: str | None) -> Impact | None:
    table = impacts()
    return table.get((resource, use or "")) or table.get((resource, ""))


# Road freight, full fuel life cycle: tank-to-wheel plus well-to-tank (DESNZ 2025).
TRANSPORT_FACTORS = ("freight.hgv.all", "freight.hgv.all.wtt")
MODE_FACTORS: dict[str, tuple[str, ...]] = {
    "road": TRANSPORT_FACTORS,
    "rail": ("freight.rail",),
    "ship": ("freight.ship.general_cargo_small",),
    "pipe": (),  # pumping energy: no sourced factor; not estimated
}


@dataclass(frozen=True)
class Avoided:
    """kg CO2e an exchange avoids (None: not estimated), the factors, the basis, and (when
    not estimated) the code of the reason why."""

    kg: float | None
    factors: tuple[str, ...]
    basis: str
    replaces: str = ""
    why_not: str = ""  # no_row, unit, unstated:<property>, condition:<text>


def avoided(
    resource: str,
    quantity: Decimal,
    unit: str,
    use: str | None = None,
    quality: Iterable[Mapping[str, Any]] = (),
) -> Avoided:
    """What exchanging ``quantity`` of ``resource`` for ``use`` avoids: production replaced
    less the reprocessing the closed-loop row counts, plus the counterfactual disposal
    route, each per the factor's unit. Without a sourced row, or when the offer does not
    state what the row needs, nothing is estimated."""
    impact = impact_for(resource, use)
    if impact is None:
        return Avoided(
            None, (), f"not estimated: no sourced factors for {resource} yet", why_not="no_row"
        )
    quality = tuple(quality)
    if impact.counterfactual == "none" and not impact.factor_keys:
        return Avoided(0.0, (), impact.basis, impact.replaces)
    if impact.condition:
        found = _CONDITION.match(impact.condition)
        assert found is not None
        value = stated(quality, found["name"], found["unit"])
        limit = float(found["value"])
        holds = value is not None and (value <= limit if found["op"] == "<=" else value >= limit)
        if not holds:
            return Avoided(
                None if value is None else 0.0,
                (),
                f"{'not estimated' if value is None else 'none'}: counted only when "
                f"{impact.condition}. {impact.basis}",
                impact.replaces,
                why_not=f"condition:{impact.condition}",
            )
    table = emission_factors()
    per_keys = [
        k for k in impact.factor_keys if not (impact.scaled_by and k == impact.replaces_factor)
    ]
    per_key = per_keys[0] if per_keys else impact.replaces_factor
    per = table[per_key].unit.rsplit("/", 1)[-1].split()[0]
    amount = convert(quantity, unit, per) if is_unit(per) else None
    if amount is None:
        return Avoided(
            None,
            (),
            f"not estimated: the factors are per {per}, the trade is in {unit}",
            impact.replaces,
            why_not="unit",
        )

    def factor(key: str) -> Decimal:
        return table[key].value if key else Decimal(0)

    replaced = factor(impact.replaces_factor) * impact.ratio
    if impact.scaled_by:
        name, prop_unit = impact.scaled_by.split()
        share = stated(quality, name, prop_unit)
        if share is None:
            return Avoided(
                None,
                (),
                f"not estimated: the offer states no {name} in {prop_unit}. {impact.basis}",
                impact.replaces,
                why_not=f"unstated:{name}",
            )
        replaced = replaced * Decimal(str(share)) / 100
    per_unit = replaced - factor(impact.reprocessing_factor) + factor(impact.counterfactual_factor)
    replaces = (
        f"replaces {impact.replaces}"
        if impact.replaces
        else "the product it replaces is not estimated"
    )
    escaped = f"; otherwise sent to {impact.counterfactual}" if impact.counterfactual else ""
    basis = f"{replaces}{escaped}. {impact.basis}"
    return Avoided(float(per_unit * amount), impact.factor_keys, basis, impact.replaces)
