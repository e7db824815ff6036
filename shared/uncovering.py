"""Uncovering symbioses before anyone lists anything (Chertow 2007): from companies' NACE
activities, what they likely have and need; which kinds of company would take a
by-product or supply a need; latent synergies between companies; and a park's open loops.
No I/O: the knowledge base's use graph and NACE flows (``shared/data``) are the evidence,
and every suggestion names its rows."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from shared import knowledge

TOP = 5
# What one documented precedent counts for against the uses that connect an activity (at
# most a few tenths together): a kind of company that has taken the resource somewhere
# comes before one that only could.
PRECEDENT = 1.0


@dataclass(frozen=True)
class Activity:
    """A kind of company (a NACE class) suggested for a role, with why."""

    nace: str
    name: str
    uses: tuple[str, ...]  # the uses that connect it
    score: float
    basis: tuple[str, ...]
    precedents: tuple[str, ...] = ()  # places where one took the resource, documented


def _name(code: str) -> str:
    found = knowledge.nace().get(code)
    return found.name if found else code


def _family(resource: str) -> set[str]:
    """A resource and the classes its List of Waste code belongs to."""
    return {resource, *knowledge.classes_of_code().get(resource, ())}


def receivers(resource: str, top: int = TOP, leave_out: Collection[str] = ()) -> list[Activity]:
    """The kinds of company most likely to take ``resource``.

    First those that have taken it, or a resource of its class, in documented exchanges
    elsewhere (``precedents.csv``), by how many places; then, and after them, the
    activities that need a use the knowledge base allows for it. Each connecting use counts
    more the fewer kinds of company need it (a use every farm has tells less about who takes
    a by-product than one only cement works have), and a little more where the use rests on
    documented exchanges. Precedents whose source is in ``leave_out`` are not counted (the
    evaluation leaves out a park's own)."""
    allowed = {rule.use: rule for rule in knowledge.uses_of(resource)}
    needing: dict[str, set[str]] = defaultdict(set)
    for flow in knowledge.nace_flows():
        if flow.direction == "input":
            needing[flow.resource].add(flow.nace)
    found: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for flow in knowledge.nace_flows():
        if flow.direction == "input" and flow.resource in allowed:
            rule = allowed[flow.resource]
            weight = 1.0 / len(needing[flow.resource])
            weight *= 1.25 if rule.basis == "documented case" else 1.0
            found[flow.nace].append((flow.resource, f"{rule.source}; {flow.basis}", weight))
    family = _family(resource)
    places: dict[str, dict[str, str]] = defaultdict(dict)
    for precedent in knowledge.precedents():
        if precedent.source not in leave_out and family & _family(precedent.resource):
            places[precedent.receiver_nace].setdefault(precedent.place, precedent.source)
    ranked = [
        Activity(
            nace=code,
            name=_name(code),
            uses=tuple(dict.fromkeys(u for u, _, _ in found.get(code, ()))),
            score=round(
                PRECEDENT * len(places.get(code, ())) + sum(w for _, _, w in found.get(code, ())),
                4,
            ),
            basis=tuple(
                dict.fromkeys(
                    [*places.get(code, {}).values(), *(b for _, b, _ in found.get(code, ()))]
                )
            ),
            precedents=tuple(sorted(places.get(code, ()))),
        )
        for code in {*found, *places}
    ]
    ranked.sort(key=lambda a: (-a.score, a.nace))
    return ranked[:top]


def suppliers(
    resource: str | None = None, use: str | None = None, top: int = TOP
) -> list[Activity]:
    """The kinds of company most likely to supply a need for ``resource`` or ``use``: the
    activities whose typical outputs serve it."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for flow in knowledge.nace_flows():
        if flow.direction != "output":
            continue
        link = knowledge.link(flow.resource, resource, use)
        if link is not None:
            found[flow.nace].append((flow.resource, flow.basis))
    ranked = [
        Activity(
            nace=code,
            name=_name(code),
            uses=tuple(dict.fromkeys(r for r, _ in links)),
            score=float(len(links)),
            basis=tuple(dict.fromkeys(b for _, b in links)),
        )
        for code, links in found.items()
    ]
    ranked.sort(key=lambda a: (-a.score, a.nace))
    return ranked[:top]


@dataclass(frozen=True)
class Suggestion:
    """A listing a company of these activities would likely post, and why."""

    kind: str  # offer | need
    nace: str
    resource: str | None  # for an offer: the resource; for a need: None
    use: str | None  # for a need: the use
    basis: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.nace}:{self.resource or self.use}"


def suggestions(nace_codes: Iterable[str]) -> list[Suggestion]:
    """Likely by-products (offers) and needs of a company from its NACE codes."""
    found: dict[str, Suggestion] = {}
    for code in nace_codes:
        for flow in knowledge.flows_of(code):
            if flow.direction == "output":
                made = Suggestion("offer", flow.nace, flow.resource, None, flow.basis)
            else:
                made = Suggestion("need", flow.nace, None, flow.resource, flow.basis)
            found.setdefault(made.key, made)
    return list(found.values())


@dataclass(frozen=True)
class Company:
    """What uncovering needs to know of a company."""

    id: str
    name: str
    nace: tuple[str, ...]
    latitude: float | None = None
    longitude: float | None = None
    plot: str | None = None


def _km(a: Company, b: Company) -> float | None:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    assert a.latitude is not None and a.longitude is not None
    assert b.latitude is not None and b.longitude is not None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class Link:
    resource: str
    use: str
    basis: str
    permit: bool
    treatment: str


@dataclass(frozen=True)
class Synergy:
    """A likely exchange between two companies that have listed nothing yet."""

    supplier: Company
    receiver: Company
    links: tuple[Link, ...]
    distance_km: float | None
    score: float = field(default=0.0)
    # documented exchanges elsewhere in which a company of the receiver's activity took
    # one of the supplier's likely by-products (or one of its class)
    precedents: tuple[knowledge.Precedent, ...] = ()


def latent_synergies(companies: Sequence[Company], limit: int = 50) -> list[Synergy]:
    """Pairs of companies where one's typical output serves a use the other typically has,
    or where a company of the receiver's activity has taken one of the supplier's typical
    outputs in a documented exchange elsewhere; ranked by the precedents' places, how many
    links they share and how near they are."""
    outputs = {c.id: [s for s in suggestions(c.nace) if s.kind == "offer"] for c in companies}
    inputs = {c.id: [s for s in suggestions(c.nace) if s.kind == "need"] for c in companies}
    found = []
    for supplier in companies:
        families = [_family(offer.resource) for offer in outputs[supplier.id] if offer.resource]
        taken: dict[str, list[knowledge.Precedent]] = defaultdict(list)
        for precedent in knowledge.precedents():
            if any(family & _family(precedent.resource) for family in families):
                taken[precedent.receiver_nace].append(precedent)
        for receiver in companies:
            if supplier.id == receiver.id:
                continue
            took = tuple(
                dict.fromkeys(p for code in dict.fromkeys(receiver.nace) for p in taken[code])
            )
            links: dict[tuple[str, str], Link] = {}
            for offer in outputs[supplier.id]:
                assert offer.resource is not None
                for need in inputs[receiver.id]:
                    assert need.use is not None
                    rule = knowledge.rule_for(offer.resource, need.use)
                    if rule is not None and rule.allowed:
                        links[(offer.resource, need.use)] = Link(
                            offer.resource, need.use, rule.source, rule.permit, rule.treatment
                        )
            if not links and not took:
                continue
            distance = _km(supplier, receiver)
            nearness = 1.0 if distance is None else 1.0 / (1.0 + distance / 5.0)
            places = len({p.place for p in took})
            found.append(
                Synergy(
                    supplier,
                    receiver,
                    tuple(links.values()),
                    None if distance is None else round(distance, 2),
                    round(PRECEDENT * places + len(links) + nearness, 4),
                    took,
                )
            )
    found.sort(key=lambda s: (-s.score, s.supplier.name, s.receiver.name))
    return found[:limit]


@dataclass(frozen=True)
class Loose:
    """An open listing as open-loop finding needs it."""

    id: str
    company_id: str
    kind: str
    resource: str | None
    use: str | None
    accepts: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    max_distance_km: float | None = None
    transport_mode: str | None = None


def _reach(item: Loose) -> float:
    from shared.resources import DEFAULT_MAX_DISTANCE_KM, default_transport

    if item.max_distance_km is not None:
        return item.max_distance_km
    mode = item.transport_mode or default_transport(item.resource or "")
    return float(DEFAULT_MAX_DISTANCE_KM.get(mode, 100.0))  # type: ignore[call-overload]


def _answers(offer: Loose, need: Loose) -> bool:
    if offer.company_id == need.company_id or offer.resource is None:
        return False
    if knowledge.link(offer.resource, need.resource, need.use, need.accepts) is None:
        return False
    here = Company(offer.id, "", (), offer.latitude, offer.longitude)
    there = Company(need.id, "", (), need.latitude, need.longitude)
    distance = _km(here, there)
    return distance is None or distance <= min(_reach(offer), _reach(need))


def open_loops(listings: Sequence[Loose]) -> list[tuple[Loose, list[Activity]]]:
    """The park's open offers that no open need answers and open needs that no open offer
    answers (by resource and reach: quantities and quality are the matcher's to judge),
    each with the kinds of company that would close the loop."""
    offers = [x for x in listings if x.kind == "offer"]
    needs = [x for x in listings if x.kind == "need"]
    found = []
    for offer in offers:
        if not any(_answers(offer, need) for need in needs):
            assert offer.resource is not None
            found.append((offer, receivers(offer.resource)))
    for need in needs:
        if not any(_answers(offer, need) for offer in offers):
            found.append((need, suppliers(need.resource, need.use)))
    return found
