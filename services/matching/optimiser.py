"""The park-wide optimiser: which flows between all open offers and needs are best for the
park as a whole. No I/O here; HiGHS (through its Python API, ``highspy``) solves the model.

Model. One variable ``x`` per feasible link (offer i → need j), the flow in the need's unit;
one binary ``y`` per link that has a fixed cost to open.

    maximise   sum_ij v_ij x_ij - sum_ij f_ij y_ij
    subject to sum_j c_ij x_ij <= S_i                     supply of offer i (its unit)
               sum_i x_ij <= D_j                          demand of need j
               sum_i (hi_ip - U_jp) x_ij <= 0              blended max limit U of property p
               sum_i (L_jp - lo_ip) x_ij <= 0              blended min limit L of property p
               x_ij <= m_ij y_ij                            a fixed-cost link must be opened
               0 <= x_ij <= m_ij, y in {0, 1}

with ``m_ij`` the smallest bound every feasible plan keeps: ``min(S_i / c_ij, D_j)``,
tightened for a flow that must be diluted by what its need's other supplies can absorb
(``prune``). A link without a fixed cost has no ``y``.

Solving. Before the model is built, ``prune`` removes the links no optimal plan needs (one
that can carry no flow, or that is worth less than its fixed cost even at full flow and
dilutes no blend that needs it), exactly. ``split`` then cuts the park into its independent
parts, the connected components of the links kept (every row of the model holds one offer's
or one need's links, so no row spans two parts), and each part is solved as its own MILP,
smallest first, warm-started from the greedy plan's share of it, within a share of the time
limit proportional to its links (the largest gets what the others left). Every part with
binaries first has its LP relaxation solved and strengthened by rounds of flow covers on its
supply and demand rows (``Cover``, ``_relax``), which then join the MILPs of its pieces
(below). A part of over ``CORE_PART_LINKS`` links then has a restricted MILP on the links
the relaxation points at (those it uses, greedy's, and each offer's and need's best by
reduced cost; no covers) find a plan. Against the best plan so far, reduced-cost fixing
(``_Duals``, ``_fix``) leaves out the links that no plan as good opens, exactly, and what
is kept falls into independent pieces, each with its own bound from the relaxation's
duals; each piece not proven by that bound is solved as a MILP from the plan, unless it has
over ``LARGE_PART_LINKS`` links, where its bound stays the relaxation's. The plan's bound
is the sum of the parts' bounds (each the sum of its pieces', each the least of the
relaxation's and its MILP's dual bound), its gap the plan against that sum; each part's
status, plan, greedy share, bound and gap are reported (``Plan.parts``).

A link is feasible when every pairwise rule of the matcher holds but quality (different
companies, resource, permit, units, windows, distance) and the offer states every property
the need limits. Quality is then kept by the blend, flow-weighted, with the offer's worst
stated value (its max against a max limit, its min against a min limit), except for
temperature and pressure: heat is never averaged, so a supply joins a need with a
temperature limit only when it meets that limit on its own.

``v_ij`` per unit of the need: ``surplus`` is the need's price minus the offer's (0 when
either is missing) less transport cost; ``co2e`` is kg CO2e avoided less road-transport
emissions (a pair whose CO2e is not estimated counts the least any sourced row estimates
per unit of its dimension, as the matcher's ranking does); ``mix`` is surplus plus CO2e at
the carbon price. ``f_ij`` is in NOK and counts
only in the money objectives.

The greedy baseline takes links in order of ``v_ij``, each as full as supply and demand
allow, only where quality holds pairwise (no blending), opening a fixed-cost link only if
its flow pays for it. Its plan is feasible for the model (and uses no pruned link), so the
optimum is never worse; if the solver stops at its time limit with a worse incumbent in a
part, that part's greedy plan is kept.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import highspy
import numpy as np
from scipy.sparse import csc_matrix, csr_matrix

from services.matching.domain import (
    OpenListing,
    co2e_avoided,
    distance_km,
    fits,
    mode_of,
    price_per_need_unit,
    serving,
    transport_factors,
    unblendable_limits_hold,
    unestimated_rate,
)
from shared import knowledge
from shared.resources import UNBLENDABLE, convert_listing
from shared.units import convert, dimension, to_base


def _silence_the_banner() -> None:
    """HiGHS's library writes its banner straight to the process's standard output the first
    time a solver is made, where a service's log is one JSON object per line. Made once here,
    at import (before the service serves or logs anything), with that output sent nowhere."""
    sys.stdout.flush()
    saved, nowhere = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(nowhere, 1)
        highspy.Highs()  # type: ignore[no-untyped-call]  # its __init__ is unannotated
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(nowhere)


_silence_the_banner()

TOLERANCE = 1e-6
LARGE_PART_LINKS = 10_000  # above: no MILP of the whole part, its LP relaxation bounds it
CORE_PART_LINKS = 2_000  # above: a plan from a restricted MILP first (``_core``)
CORE_PER_NODE = 3  # the links each offer and need brings into the restricted MILP
CORE_SHARE = 0.4  # of a part's time, for the restricted MILP when the whole part follows
PROVEN_GAP = 1e-6  # HiGHS's mip_rel_gap here: a plan this close to its bound is optimal
CUT_ROUNDS = 50  # at most, of flow covers added to a part's LP relaxation (``_relax``)
CUT_PROGRESS = 1e-6  # a round that moves the relaxation's bound by less ends them
CUT_SHARE = 0.2  # of a part's time, at most, for the rounds of flow covers


@dataclass(frozen=True)
class Goal:
    """What the park maximises, and the prices that turn tonnes and km into NOK."""

    objective: str = "surplus"  # surplus | co2e | mix
    carbon_price_nok_per_t: float = 0.0
    transport_cost_nok_per_tkm: float | None = None
    max_distance_km: float | None = None  # a cap; None: each listing's own reach
    link_fixed_cost_nok: float = 0.0
    time_limit_seconds: float = 60.0


@dataclass(frozen=True)
class Link:
    """A feasible offer → need link and what one unit of the need's unit along it is worth."""

    offer: OpenListing
    need: OpenListing
    offer_units_per_unit: float  # c_ij: offer units in one need unit
    capacity: float  # in the need's unit
    surplus_nok: float  # per need unit, transport cost deducted
    co2e_net_kg: float  # per need unit, transport emissions deducted
    co2e_estimated: bool  # false: co2e_net_kg counts the ranking's floor (``unestimated_rate``)
    coefficient: float  # v_ij
    fixed_cost_nok: float
    bounds: Mapping[tuple[str, str], tuple[float, float]]  # offer's (lowest, highest) stated
    pairwise_quality: bool  # every limit of the need holds for this offer alone
    distance_km: float | None


@dataclass(frozen=True)
class Flow:
    offer: OpenListing
    need: OpenListing
    quantity: float  # in the need's unit
    surplus_nok: float
    co2e_net_kg: float
    fixed_cost_nok: float
    co2e_estimated: bool = True  # false: co2e_net_kg is the ranking's floor, not an estimate

    @property
    def unit(self) -> str:
        return self.need.unit


@dataclass(frozen=True)
class Outcome:
    """A set of flows and what it is worth to the park."""

    flows: tuple[Flow, ...]
    objective: float
    surplus_nok: float
    co2e_net_kg: float  # of the flows whose CO2e is estimated (``outcome``)
    fixed_costs_nok: float


@dataclass(frozen=True)
class Part:
    """One independent part of the park (a connected component of the links kept), solved on
    its own: its size, its greedy share, its plan and HiGHS's bound on it."""

    offers: int
    needs: int
    links: int
    binaries: int
    status: str
    objective: float
    greedy: float
    bound: float | None
    gap: float | None
    solve_seconds: float


@dataclass(frozen=True)
class Plan:
    goal: Goal
    best: Outcome
    greedy: Outcome
    status: str
    gap: float | None  # relative gap between the plan and the solver's bound
    bound: float | None
    solve_seconds: float
    links: int
    variables: int
    binaries: int
    notes: tuple[str, ...] = field(default=())
    pruned: int = 0  # links no optimal plan needs, left out of the model
    parts: tuple[Part, ...] = field(default=())  # largest first

    @property
    def improvement(self) -> float:
        return self.best.objective - self.greedy.objective


def _limits(need: OpenListing) -> list[tuple[str, str, float | None, float | None]]:
    """The need's limits a blend may meet on average: never heat, pressure or temperature,
    which each supply must meet on its own (``unblendable_limits_hold``)."""
    return [
        (q["property"], q["unit"], q.get("min"), q.get("max"))
        for q in need.quality
        if (q.get("min") is not None or q.get("max") is not None)
        and q["property"] not in UNBLENDABLE
    ]


def _stated(offer: OpenListing) -> dict[tuple[str, str], tuple[float, float]]:
    found = {}
    for q in offer.quality:
        low = q.get("value") if q.get("value") is not None else q.get("min")
        high = q.get("value") if q.get("value") is not None else q.get("max")
        if low is not None and high is not None:
            found[(q["property"], q["unit"])] = (float(low), float(high))
    return found


class _Values:
    """Per-unit values of links, with what depends on one side only (or on the offer and the
    need's unit) worked out once: the park's links repeat each offer hundreds of times."""

    def __init__(self, goal: Goal) -> None:
        self.goal = goal
        self._prices: dict[tuple[uuid.UUID, str], Decimal | None] = {}
        self._avoided: dict[tuple[uuid.UUID, str, str | None], tuple[float, bool]] = {}

    def _price(self, listing: OpenListing, unit: str) -> Decimal | None:
        key = (listing.listing_id, unit)
        if key not in self._prices:
            self._prices[key] = price_per_need_unit(listing, unit)
        return self._prices[key]

    def per_unit(
        self, offer: OpenListing, need: OpenListing, distance: float | None
    ) -> tuple[float, float, float, bool]:
        """Surplus (NOK), net CO2e (kg) and the objective's value, per unit of the need, and
        whether the CO2e is estimated. A pair whose CO2e is not estimated counts as avoiding
        the least any sourced row estimates for its dimension (``unestimated_rate``), as the
        matcher's ranking counts it (``rank_key``), not as avoiding nothing."""
        goal = self.goal
        ask = self._price(offer, need.unit)
        bid = self._price(need, need.unit)
        surplus = 0.0 if ask is None or bid is None else float(bid - ask) / 100
        transport_kg = 0.0
        mode = mode_of(offer, need)
        if distance is not None and mode != "pipe" and dimension(need.unit) == "mass":
            tonnes = float(convert(Decimal(1), need.unit, "t") or 0)
            table = knowledge.emission_factors()
            factors = transport_factors(mode)
            transport_kg = tonnes * distance * float(sum(table[k].value for k in factors))
            if goal.transport_cost_nok_per_tkm is not None:
                surplus -= tonnes * distance * goal.transport_cost_nok_per_tkm
        # co2e_avoided depends on the offer, the unit and the use the offer serves
        link = serving(offer, need)
        key = (offer.listing_id, need.unit, link.use if link else None)
        if key not in self._avoided:
            kg = co2e_avoided(offer, Decimal(1), need.unit, need)[0]
            self._avoided[key] = (
                (
                    float(to_base(Decimal(1), need.unit)) * unestimated_rate(dimension(need.unit)),
                    False,
                )
                if kg is None
                else (kg, True)
            )
        avoided, estimated = self._avoided[key]
        co2e = avoided - transport_kg
        if goal.objective == "surplus":
            value = surplus
        elif goal.objective == "co2e":
            value = co2e
        else:
            value = surplus + goal.carbon_price_nok_per_t * co2e / 1000
        return surplus, co2e, value, estimated


def links(
    listings: Iterable[OpenListing],
    goal: Goal,
    permits: Mapping[uuid.UUID, frozenset[str]] | None = None,
    fixed_costs: Mapping[tuple[uuid.UUID, uuid.UUID], Decimal] | None = None,
) -> list[Link]:
    """Every feasible link, found through the resource index (never all pairs)."""
    offers: dict[str, list[OpenListing]] = defaultdict(list)
    needs = []
    for listing in listings:
        if listing.kind == "offer":
            offers[listing.resource].append(listing)
        else:
            needs.append(listing)
    fixed_costs = fixed_costs or {}
    found = []
    values = _Values(goal)
    stated: dict[uuid.UUID, dict[tuple[str, str], tuple[float, float]]] = {}
    conversions: dict[tuple[uuid.UUID, str], float] = {}
    for need in needs:
        limits = _limits(need)
        accepted = knowledge.accepted_by(need.named, need.use, need.accepts)
        for resource in sorted(accepted):
            for offer in offers.get(resource, ()):
                if not fits(offer, need, goal.max_distance_km, permits, quality=False):
                    continue
                if not unblendable_limits_hold(offer, need):
                    continue  # heat is never averaged: each supply holds the level alone
                bounds = stated.get(offer.listing_id)
                if bounds is None:
                    bounds = stated[offer.listing_id] = _stated(offer)
                if any((name, unit) not in bounds for name, unit, _, _ in limits):
                    continue  # a blend cannot be judged on a property the offer does not state
                per = conversions.get((offer.listing_id, need.unit))
                if per is None:
                    found_per = convert_listing(
                        offer.resource, offer.quality, Decimal(1), need.unit, offer.unit
                    )
                    assert found_per is not None  # the units rule held
                    per = conversions[(offer.listing_id, need.unit)] = float(found_per)
                distance = distance_km(offer, need)
                surplus, co2e, value, estimated = values.per_unit(offer, need, distance)
                fixed = float(
                    fixed_costs.get((offer.listing_id, need.listing_id), goal.link_fixed_cost_nok)
                )
                found.append(
                    Link(
                        offer=offer,
                        need=need,
                        offer_units_per_unit=per,
                        capacity=min(float(offer.quantity) / per, float(need.quantity)),
                        surplus_nok=surplus,
                        co2e_net_kg=co2e,
                        co2e_estimated=estimated,
                        coefficient=value,
                        fixed_cost_nok=fixed if goal.objective != "co2e" else 0.0,
                        bounds=bounds,
                        # every other rule held above: only the need's limits can still fail
                        pairwise_quality=not need.quality
                        or fits(offer, need, goal.max_distance_km, permits),
                        distance_km=distance,
                    )
                )
    return found


def outcome(flows: Iterable[Flow], goal: Goal) -> Outcome:
    """What ``flows`` are worth. The objective counts a flow whose CO2e is not estimated at
    the ranking's floor, as the model did; the CO2e the plan reports is only what is
    estimated, so that a floor is never shown as CO2e avoided."""
    flows = tuple(flows)
    surplus = sum(f.surplus_nok for f in flows)
    counted = sum(f.co2e_net_kg for f in flows)
    estimated = sum(f.co2e_net_kg for f in flows if f.co2e_estimated)
    fixed = sum(f.fixed_cost_nok for f in flows)
    if goal.objective == "surplus":
        objective = surplus - fixed
    elif goal.objective == "co2e":
        objective = counted
    else:
        objective = surplus + goal.carbon_price_nok_per_t * counted / 1000 - fixed
    return Outcome(flows, objective, surplus, estimated, fixed)


def _flow(link: Link, quantity: float) -> Flow:
    return Flow(
        offer=link.offer,
        need=link.need,
        quantity=quantity,
        surplus_nok=link.surplus_nok * quantity,
        co2e_net_kg=link.co2e_net_kg * quantity,
        fixed_cost_nok=link.fixed_cost_nok,
        co2e_estimated=link.co2e_estimated,
    )


def greedy(found: list[Link], goal: Goal) -> Outcome:
    """Pairwise matching, best link first, no blending: the baseline the optimum beats."""
    supply = {link.offer.listing_id: float(link.offer.quantity) for link in found}
    demand = {link.need.listing_id: float(link.need.quantity) for link in found}
    flows = []
    ordered = sorted(
        found, key=lambda k: (-k.coefficient, str(k.offer.listing_id), str(k.need.listing_id))
    )
    for link in ordered:
        if link.coefficient <= 0 or not link.pairwise_quality:
            continue
        quantity = min(
            supply[link.offer.listing_id] / link.offer_units_per_unit,
            demand[link.need.listing_id],
        )
        if quantity <= TOLERANCE or link.coefficient * quantity <= link.fixed_cost_nok:
            continue
        supply[link.offer.listing_id] -= quantity * link.offer_units_per_unit
        demand[link.need.listing_id] -= quantity
        flows.append(_flow(link, quantity))
    return outcome(flows, goal)


def violations(found: list[Link], plan: Outcome) -> list[str]:
    """Every limit the plan breaks (empty for a sound plan): supply, demand, quality, and
    flows only along feasible links."""
    by_pair = {(k.offer.listing_id, k.need.listing_id): k for k in found}
    used: dict[uuid.UUID, float] = defaultdict(float)
    received: dict[uuid.UUID, list[tuple[Link, float]]] = defaultdict(list)
    broken = []
    for flow in plan.flows:
        link = by_pair.get((flow.offer.listing_id, flow.need.listing_id))
        if link is None:
            broken.append(f"{flow.offer.title} → {flow.need.title}: not a feasible link")
            continue
        if flow.quantity < -TOLERANCE:
            broken.append(f"{flow.offer.title} → {flow.need.title}: negative flow")
        used[flow.offer.listing_id] += flow.quantity * link.offer_units_per_unit
        received[flow.need.listing_id].append((link, flow.quantity))
    for link in found:
        offer, need = link.offer, link.need
        if used.get(offer.listing_id, 0) > float(offer.quantity) * (1 + TOLERANCE) + TOLERANCE:
            broken.append(f"{offer.title}: more than its {offer.quantity} {offer.unit}")
            used.pop(offer.listing_id)
    for parts in received.values():
        need = parts[0][0].need
        total = sum(q for _, q in parts)
        if total > float(need.quantity) * (1 + TOLERANCE) + TOLERANCE:
            broken.append(f"{need.title}: more than its {need.quantity} {need.unit}")
        for name, unit, low, high in _limits(need):
            if total <= TOLERANCE:
                continue
            lowest = sum(k.bounds[(name, unit)][0] * q for k, q in parts) / total
            highest = sum(k.bounds[(name, unit)][1] * q for k, q in parts) / total
            slack = TOLERANCE * max(1.0, abs(high or 0), abs(low or 0)) * 10
            if high is not None and highest > high + slack:
                broken.append(f"{need.title}: blended {name} {highest:g} above {high:g} {unit}")
            if low is not None and lowest < low - slack:
                broken.append(f"{need.title}: blended {name} {lowest:g} below {low:g} {unit}")
    return broken


def _blend(link: Link) -> list[float]:
    """The link's coefficient in each blend row of its need, in the order of ``_limits``
    (a max limit's row before its min limit's): ``hi - U`` against a max limit U,
    ``L - lo`` against a min limit L. Negative: the link dilutes the blend, leaving room for
    others; positive: its flow must be diluted by others'; zero: neither."""
    found = []
    for name, unit, low, high in _limits(link.need):
        lowest, highest = link.bounds[(name, unit)]
        if high is not None:
            found.append(highest - high)
        if low is not None:
            found.append(low - lowest)
    return found


@dataclass(frozen=True)
class Pruned:
    """The links kept for the model, the smallest valid bound on each one's flow, and how
    many were removed for each reason."""

    kept: list[int]  # positions in ``found``
    caps: dict[int, float]  # position -> upper bound on the flow
    no_flow: int = 0  # its blend can never be diluted enough to carry anything
    no_value: int = 0  # worth nothing, or less than its fixed cost even at full flow


def prune(found: list[Link]) -> Pruned:
    """Remove the links no optimal plan needs, and bound the flow of the others tightly.

    The bound ``m_ij`` starts from ``min(S_i / c_ij, D_j)``. A link whose flow must be diluted
    in a blend row of its need (coefficient ``a > 0``) can carry no more than its diluters
    allow: ``a x <= sum_k (-a_k) x_k``, which is at most the diluters' ``sum (-a_k) m_k``, and,
    since ``x + sum_k x_k <= D_j``, at most ``A (D_j - x)`` with ``A`` the strongest
    diluter's ``-a_k``, so ``x <= D_j A / (a + A)``. Every feasible plan keeps these bounds.

    Removed, both exactly (the optimum of the model is the same with or without them):
    a link that can carry no flow (bound 0: nothing dilutes it); and a link that dilutes no
    blend that needs it (no negative coefficient in a row where another link of the need has
    a positive one) whose value cannot pay its way: ``v <= 0``, or a fixed cost
    ``f >= v m`` even at its largest flow. Taking such a link out of any plan keeps every
    supply and demand row feasible, and every blend row too: either its coefficient there is
    >= 0, or every coefficient in the row is <= 0 and the row holds whatever flows. The
    objective changes by ``f y - v x >= 0``. A link that dilutes a blend someone needs
    diluted is kept even at a loss: it may let a more valuable flow into the same need.
    Repeated until nothing changes, since each removal can tighten or free others.
    """
    blends = [_blend(link) for link in found]
    alive = set(range(len(found)))
    caps = {i: found[i].capacity for i in alive}
    no_flow = no_value = 0
    while True:
        # per need and blend row: the strongest diluter, and what all diluters can absorb
        strongest: dict[tuple[uuid.UUID, int], float] = defaultdict(float)
        absorbs: dict[tuple[uuid.UUID, int], float] = defaultdict(float)
        binding: set[tuple[uuid.UUID, int]] = set()  # rows some flow must be diluted in
        for i in alive:
            need = found[i].need.listing_id
            for r, a in enumerate(blends[i]):
                if a < 0:
                    strongest[(need, r)] = max(strongest[(need, r)], -a)
                    absorbs[(need, r)] += -a * found[i].capacity
                elif a > 0:
                    binding.add((need, r))
        dropped = []
        for i in alive:
            link = found[i]
            need = link.need.listing_id
            demand = float(link.need.quantity)
            cap = link.capacity
            for r, a in enumerate(blends[i]):
                if a > 0:
                    most = strongest[(need, r)]
                    cap = min(cap, demand * most / (a + most), absorbs[(need, r)] / a)
            caps[i] = cap
            if cap <= TOLERANCE:
                dropped.append(i)
                no_flow += 1
            elif not any(a < 0 and (need, r) in binding for r, a in enumerate(blends[i])) and (
                link.coefficient <= 0 or link.coefficient * cap <= link.fixed_cost_nok
            ):
                dropped.append(i)
                no_value += 1
        if not dropped:
            break
        alive.difference_update(dropped)
    kept = sorted(alive)
    return Pruned(kept, {i: caps[i] for i in kept}, no_flow, no_value)


def split(found: list[Link], kept: Iterable[int]) -> list[list[int]]:
    """The independent parts of the model: the connected components of the kept links, an
    offer and a need joined by a link. Every row of the model (an offer's supply, a need's
    demand and blend, a link's opening) holds the links of one offer or one need, so no row
    spans two parts and each part's optimum is its share of the whole's. Largest first."""
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(node: uuid.UUID) -> uuid.UUID:
        while (up := parent.setdefault(node, node)) != node:
            parent[node] = parent.setdefault(up, up)
            node = parent[node]
        return node

    kept = list(kept)
    for i in kept:
        a, b = root(found[i].offer.listing_id), root(found[i].need.listing_id)
        if a != b:
            parent[a] = b
    parts: dict[uuid.UUID, list[int]] = defaultdict(list)
    for i in kept:
        parts[root(found[i].offer.listing_id)].append(i)
    return sorted(parts.values(), key=lambda members: (-len(members), members[0]))


def _model(
    found: list[Link],
    part: list[int],
    caps: Mapping[int, float],
    cuts: Iterable[Cover] = (),
) -> tuple[highspy.HighsLp, list[int]]:
    """One part's MILP for HiGHS, and the positions (in ``part``) of the links with a
    binary: the columns are the links' flows, then those binaries in that order. ``cuts``
    (flow covers, ``Cover``) are added as rows, each without the terms of links not in
    ``part`` (a plan of the part carries nothing on them, so the cut still holds)."""
    n = len(part)
    opening = [p for p, i in enumerate(part) if found[i].fixed_cost_nok > 0]
    size = n + len(opening)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    upper: list[float] = []
    by_offer: dict[uuid.UUID, list[int]] = defaultdict(list)
    by_need: dict[uuid.UUID, list[int]] = defaultdict(list)
    for p, i in enumerate(part):
        by_offer[found[i].offer.listing_id].append(p)
        by_need[found[i].need.listing_id].append(p)
    for members in by_offer.values():
        index = len(upper)
        for p in members:
            rows.append(index)
            cols.append(p)
            vals.append(found[part[p]].offer_units_per_unit)
        upper.append(float(found[part[members[0]]].offer.quantity))
    for members in by_need.values():
        index = len(upper)
        for p in members:
            rows.append(index)
            cols.append(p)
            vals.append(1.0)
        upper.append(float(found[part[members[0]]].need.quantity))
        coefficients = [_blend(found[part[p]]) for p in members]
        for r in range(len(coefficients[0])):
            if all(c[r] <= 0 for c in coefficients):
                continue  # every supply keeps this limit on its own: the row cannot bind
            index = len(upper)
            for p, c in zip(members, coefficients, strict=True):
                if c[r] != 0:
                    rows.append(index)
                    cols.append(p)
                    vals.append(c[r])
            upper.append(0.0)
    for position, p in enumerate(opening):
        index = len(upper)
        rows += [index, index]
        cols += [p, n + position]
        vals += [1.0, -caps[part[p]]]
        upper.append(0.0)
    where = {i: p for p, i in enumerate(part)}
    binary = {p: n + position for position, p in enumerate(opening)}
    for cut in cuts:
        index = len(upper)
        for i, weight, charge in cut.terms:
            at = where.get(i)
            if at is None:
                continue
            rows.append(index)
            cols.append(at)
            vals.append(weight)
            if charge:
                rows.append(index)
                cols.append(binary[at])
                vals.append(-charge)
        upper.append(cut.upper)
    matrix = csc_matrix(
        (np.array(vals), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
        shape=(len(upper), size),
    )
    lp = highspy.HighsLp()
    lp.num_col_ = size
    lp.num_row_ = len(upper)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.array(
        [found[i].coefficient for i in part] + [-found[part[p]].fixed_cost_nok for p in opening]
    )
    lp.col_lower_ = np.zeros(size)
    lp.col_upper_ = np.array([caps[i] for i in part] + [1.0] * len(opening))
    lp.row_lower_ = np.full(len(upper), -highspy.kHighsInf)
    lp.row_upper_ = np.array(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data
    return lp, opening


def _highs(limit: float) -> highspy.Highs:
    solver = highspy.Highs()  # type: ignore[no-untyped-call]  # its __init__ is unannotated
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", max(limit, 0.01))
    return solver


@dataclass(frozen=True)
class Cover:
    """A flow cover inequality on one offer's supply row or one need's demand row,

        sum_{j in C} a_j x_j + sum_{j in C} (u_j - lambda)^+ (1 - y_j) <= b,

    over a set ``C`` of the row's links that each have a binary ``y_j``, with ``a_j`` the
    link's weight in the row (offer units per need unit, or 1), ``u_j = a_j m_j`` its
    largest use of the row, ``b`` the row's bound and ``lambda = sum_C u_j - b > 0`` by how
    much ``C`` can overfill it. Every plan keeps it: with every link of ``C`` open it is the
    row itself (the other links of the row carry nothing negative); with a set ``T`` of
    them closed (their flow 0), the open ones carry at most ``min(b, b + lambda - u_T)``,
    and ``sum_T (u_j - lambda)^+ <= (u_T - lambda)^+`` since ``lambda > 0``, so the left
    side is at most ``b``. The LP relaxation charges a link ``f x / m``, its flow's share of
    its bound; a cover forces a link that cannot be full, because the row is shared, to be
    opened further (Padberg, Van Roy and Wolsey, "Valid linear inequalities for fixed
    charge problems", Operations Research 33(4), 1985).

    Stored as ``sum a_j x_j - sum (u_j - lambda)^+ y_j <= b - sum (u_j - lambda)^+``:
    ``terms`` holds (link, ``a_j``, ``(u_j - lambda)^+``) and ``upper`` the right side."""

    terms: tuple[tuple[int, float, float], ...]
    upper: float


def _covers(
    found: list[Link],
    part: list[int],
    caps: Mapping[int, float],
    flows: list[float],
    opened: Mapping[int, float],
) -> list[Cover]:
    """The flow covers the LP point (``flows`` per position in ``part``, ``opened`` its
    binaries by position) breaks, one at most per supply and demand row: ``C`` is the row's
    links that carry flow, extended (most open first, then largest) until it overfills the
    row, as Van Roy and Wolsey's separation heuristic takes it."""
    rows: dict[tuple[str, uuid.UUID], list[tuple[int, float, float, float, float]]] = defaultdict(
        list
    )
    bounds: dict[tuple[str, uuid.UUID], float] = {}
    for p, i in enumerate(part):
        if p not in opened:
            continue  # no binary: left out of C (its flow is never negative)
        link = found[i]
        a = link.offer_units_per_unit
        offer = ("offer", link.offer.listing_id)
        need = ("need", link.need.listing_id)
        rows[offer].append((i, a, a * caps[i], a * flows[p], opened[p]))
        rows[need].append((i, 1.0, caps[i], flows[p], opened[p]))
        bounds[offer] = float(link.offer.quantity)
        bounds[need] = float(link.need.quantity)
    found_cuts = []
    for key, items in rows.items():
        b = bounds[key]
        scale = max(1.0, b)
        cover = [item for item in items if item[3] > TOLERANCE * scale]
        if not cover:
            continue
        excess = math.fsum(item[2] for item in cover) - b
        if excess <= TOLERANCE * scale:
            rest = sorted(
                (item for item in items if item[3] <= TOLERANCE * scale),
                key=lambda item: (-item[4], -item[2], item[0]),
            )
            for item in rest:
                cover.append(item)
                excess += item[2]
                if excess > TOLERANCE * scale:
                    break
            else:
                continue  # the row cannot be overfilled: no cover
        charges = [max(item[2] - excess, 0.0) for item in cover]
        left = math.fsum(item[3] for item in cover) + math.fsum(
            c * (1 - item[4]) for c, item in zip(charges, cover, strict=True)
        )
        if left - b <= TOLERANCE * scale:
            continue
        found_cuts.append(
            Cover(
                tuple((item[0], item[1], c) for c, item in zip(charges, cover, strict=True)),
                b - math.fsum(charges),
            )
        )
    return found_cuts


@dataclass(frozen=True)
class _Relaxed:
    bound: float | None  # the LP optimum: no plan of the part is worth more
    flows: list[float]  # per link of the part, the LP's flow
    scores: list[float]  # per link: the LP's reduced cost of opening it at its full bound
    cuts: tuple[Cover, ...] = ()  # the flow covers added, valid for every plan of the part
    rounds: int = 0
    seconds: float = 0.0
    duals: _Duals | None = None  # the bound's terms and what opening each link loses


def _relax(
    found: list[Link],
    part: list[int],
    caps: Mapping[int, float],
    limit: float,
    rounds: int | None = None,
    share: float = CUT_SHARE,
) -> _Relaxed:
    """The part's LP relaxation (every binary between 0 and 1), strengthened by rounds of
    flow covers (``_covers``) the LP point breaks, each round re-solved from the last basis,
    until none is broken, the bound moves by less than ``CUT_PROGRESS``, ``rounds`` (default
    ``CUT_ROUNDS``) are done or ``share`` of ``limit`` seconds is spent. Its optimum, with
    every cut valid for every plan, bounds every plan of the part from above, as the MILP's
    does."""
    rounds = CUT_ROUNDS if rounds is None else rounds
    started = time.perf_counter()
    deadline = started + limit * share
    lp, opening = _model(found, part, caps)
    first_link_row = lp.num_row_ - len(opening)  # the opening rows close the model (``_model``)
    solver = _highs(limit)
    solver.passModel(lp)
    del lp
    solver.run()
    n = len(part)
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return _Relaxed(None, [0.0] * n, [0.0] * n, seconds=time.perf_counter() - started)
    bound = solver.getInfo().objective_function_value
    solution = solver.getSolution()
    cuts: list[Cover] = []
    where = {i: p for p, i in enumerate(part)}
    binary = {p: n + position for position, p in enumerate(opening)}
    done = 0
    while done < rounds and time.perf_counter() < deadline:
        values = solution.col_value
        found_cuts = _covers(
            found, part, caps, list(values[:n]), {p: values[c] for p, c in binary.items()}
        )
        if not found_cuts:
            break
        starts: list[int] = []
        indices: list[int] = []
        coefficients: list[float] = []
        upper: list[float] = []
        for cut in found_cuts:
            starts.append(len(indices))
            for i, weight, charge in cut.terms:
                p = where[i]
                indices.append(p)
                coefficients.append(weight)
                if charge:
                    indices.append(binary[p])
                    coefficients.append(-charge)
            upper.append(cut.upper)
        solver.addRows(
            len(found_cuts),
            np.full(len(found_cuts), -highspy.kHighsInf),
            np.array(upper),
            len(indices),
            np.array(starts, dtype=np.int32),
            np.array(indices, dtype=np.int32),
            np.array(coefficients),
        )
        solver.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
        solver.run()
        if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break  # out of time: the last optimum's bound stands
        cuts.extend(found_cuts)
        done += 1
        solution = solver.getSolution()
        previous, bound = bound, solver.getInfo().objective_function_value
        if previous - bound <= CUT_PROGRESS * max(abs(bound), 1.0):
            break
    column_duals = list(solution.col_dual)
    scores = [column_duals[p] * caps[i] for p, i in enumerate(part)]
    for position, p in enumerate(opening):
        scores[p] += column_duals[n + position]
    # the last optimum's duals (rows added after it, if its successor ran out of time, get 0)
    duals = _Duals(solver.getLp(), list(solution.row_dual), n, opening, first_link_row)
    return _Relaxed(
        duals.bound,
        list(solution.col_value[:n]),
        scores,
        tuple(cuts),
        done,
        time.perf_counter() - started,
        duals,
    )


class _Duals:
    """What the LP relaxation's row duals say about every plan of a part, and of every piece
    it falls into once links are left out (reduced-cost fixing, ``_fix``).

    For any multipliers ``pi >= 0`` on the rows ``A z <= b`` and ``d = c - A'pi``, every
    plan ``z`` (within its columns' bounds ``0 <= z <= u``) is worth
    ``c z = pi b + d z - pi (b - A z) <= B - sum_k ([d_k]+ u_k - d_k z_k) - pi (b - A z)``
    with ``B = pi b + sum_k [d_k]+ u_k``, and every term subtracted is >= 0: ``B`` bounds
    the part whatever ``pi`` is (weak duality) and is the LP optimum when ``pi`` is its
    optimal dual. A plan that opens link ``p`` (``y_p = 1``, flow ``x_p`` in ``[0, m_p]``)
    loses from ``y_p`` the term ``[-d_y]+``, from ``x_p`` the term ``[d_x]+ m_p - d_x x_p``
    and from its opening row ``x_p - m_p y_p <= 0`` the term ``pi_p (m_p - x_p)``: linear
    in ``x_p``, so at least ``[-d_y]+ + min(pi_p, -d_x) m_p`` when ``d_x < 0``, and
    ``[-d_y]+`` otherwise (``losses``).

    ``B`` is a sum of terms, one per row (``pi_r b_r``) and one per column
    (``[d_k]+ u_k``), all >= 0. Every row holds the links of one offer or one need, so
    once some links are left out and the rest fall into independent pieces, each row with
    a link kept belongs to one piece, and the terms of a piece's rows and columns are the
    same bound for that piece alone (its rows restricted to its columns: the links left out
    carry nothing in its plans). ``bounds`` sums them per piece."""

    def __init__(
        self,
        lp: highspy.HighsLp,
        row_duals: list[float],
        n: int,
        opening: list[int],
        first_link_row: int,
    ) -> None:
        shape = (lp.num_row_, lp.num_col_)
        data = (
            np.asarray(lp.a_matrix_.value_),
            np.asarray(lp.a_matrix_.index_),
            np.asarray(lp.a_matrix_.start_),
        )
        rows = (
            csc_matrix(data, shape=shape).tocsr()
            if lp.a_matrix_.format_ == highspy.MatrixFormat.kColwise
            else csr_matrix(data, shape=shape)
        )
        # HiGHS's row duals of a maximisation are >= 0 on rows at their upper bound
        pi = np.zeros(lp.num_row_)
        pi[: len(row_duals)] = np.maximum(np.asarray(row_duals[: lp.num_row_]), 0.0)
        d = np.asarray(lp.col_cost_) - rows.T @ pi
        upper = np.asarray(lp.col_upper_)
        self.row_terms = pi * np.asarray(lp.row_upper_)
        self.column_terms = np.maximum(d, 0.0) * upper
        self.bound = float(math.fsum(self.row_terms) + math.fsum(self.column_terms))
        self.losses = np.zeros(n)
        at = np.asarray(opening, dtype=np.int64)
        if opening:
            dx = d[at]
            dy = d[n : n + len(opening)]
            link = pi[first_link_row : first_link_row + len(opening)]
            self.losses[at] = np.maximum(-dy, 0.0) + np.where(
                dx < 0, np.minimum(link, -dx) * upper[at], 0.0
            )
        self.column_links = np.concatenate([np.arange(n, dtype=np.int64), at])
        self.row_starts = rows.indptr
        self.row_columns = rows.indices

    def bounds(self, labels: np.ndarray, pieces: int) -> np.ndarray:
        """Per piece, the bound of its rows' and columns' terms: ``labels`` gives each link
        (position in the part) its piece, or -1 for a link left out."""
        columns = labels[self.column_links]
        sizes = np.diff(self.row_starts)
        rows = np.full(len(sizes), -1, dtype=np.int64)
        filled = sizes > 0
        if self.row_columns.size:
            # a row's kept links are all in one piece: its label is the largest of its columns'
            rows[filled] = np.maximum.reduceat(columns[self.row_columns], self.row_starts[:-1])[
                filled
            ]
        total = np.zeros(pieces)
        keep = rows >= 0
        total += np.bincount(rows[keep], weights=self.row_terms[keep], minlength=pieces)
        keep = columns >= 0
        total += np.bincount(columns[keep], weights=self.column_terms[keep], minlength=pieces)
        return total


def _fix(
    found: list[Link], part: list[int], duals: _Duals, plan: list[float]
) -> tuple[list[list[int]], list[float]]:
    """Reduced-cost fixing: the links no plan at least as good as ``plan`` opens are left
    out, and what is kept falls into independent pieces, each with its own bound from the
    same duals (``_Duals.bounds``); in a piece, a link is left out when opening it loses
    more than the piece's bound less ``plan``'s worth in it. Repeated until nothing more
    is left out, since every piece's gap is smaller than the whole's. Exact: the parts of
    an optimal plan lose no more than their pieces' gaps, so every optimal plan is kept.
    The pieces (positions in ``part``) and their bounds."""
    n = len(part)
    values = np.array(
        [
            found[i].coefficient * q - found[i].fixed_cost_nok if q > TOLERANCE else 0.0
            for i, q in zip(part, plan, strict=True)
        ]
    )
    used = np.array([q > TOLERANCE for q in plan], dtype=bool)
    labels = np.zeros(n, dtype=np.int64)
    bounds = np.array([duals.bound])
    margin = 1e-9 * abs(duals.bound) + 1e-6
    pieces = [list(range(n))]
    while True:
        kept = labels >= 0
        gaps = bounds - np.bincount(labels[kept], weights=values[kept], minlength=len(bounds))
        drop = kept & ~used & (duals.losses > gaps[np.maximum(labels, 0)] + margin)
        if not drop.any():
            return pieces, [float(b) for b in bounds]
        labels[drop] = -1
        where = {i: p for p, i in enumerate(part)}
        pieces = [
            sorted(where[i] for i in piece)
            for piece in split(found, (part[p] for p in np.flatnonzero(labels >= 0)))
        ]
        for label, piece in enumerate(pieces):
            labels[piece] = label
        bounds = duals.bounds(labels, len(pieces))


def _core(
    found: list[Link], part: list[int], relaxed: _Relaxed, start: list[float], per_node: int
) -> list[int]:
    """The positions (in ``part``) of the links a restricted MILP is given, to find a good
    plan fast: those the LP relaxation uses, those greedy uses (so greedy's plan stays a
    start), and each offer's and each need's ``per_node`` best by the LP's reduced cost.
    Only a plan comes of it: the part's bound stays the relaxation's (or the whole
    part's MILP's)."""
    chosen = {p for p in range(len(part)) if relaxed.flows[p] > TOLERANCE or start[p] > 0}
    groups: dict[tuple[str, uuid.UUID], list[int]] = defaultdict(list)
    for p, i in enumerate(part):
        groups[("offer", found[i].offer.listing_id)].append(p)
        groups[("need", found[i].need.listing_id)].append(p)
    for members in groups.values():
        chosen.update(sorted(members, key=lambda p: -relaxed.scores[p])[:per_node])
    return sorted(chosen)


@dataclass(frozen=True)
class _Solved:
    status: str
    flows: list[float] | None  # per link of the part, the solver's best plan
    bound: float | None
    binaries: int
    seconds: float
    message: str


def _solve(
    found: list[Link],
    part: list[int],
    caps: Mapping[int, float],
    start: list[float],
    limit: float,
    cuts: Iterable[Cover] = (),
) -> _Solved:
    """One part as a MILP in HiGHS, started from ``start`` (a feasible plan), with ``cuts``
    (flow covers every plan keeps) among its rows."""
    n = len(part)
    lp, opening = _model(found, part, caps, cuts)
    solver = _highs(limit)
    solver.setOptionValue("mip_rel_gap", PROVEN_GAP)
    if n > LARGE_PART_LINKS:
        # a large part's cuts are long rows: a pool of HiGHS's default 10,000 took the largest
        # part at 5,000 listings (99,271 links) to 1.3 GB while raising its bound by 0.02 %
        solver.setOptionValue("mip_pool_soft_limit", 1000)
    if opening:
        lp.integrality_ = [highspy.HighsVarType.kContinuous] * n + [
            highspy.HighsVarType.kInteger
        ] * len(opening)
    solver.passModel(lp)
    del lp
    if opening:
        solution = highspy.HighsSolution()
        solution.col_value = list(start) + [1.0 if start[p] > TOLERANCE else 0.0 for p in opening]
        solution.value_valid = True
        solver.setSolution(solution)
    started = time.perf_counter()
    solver.run()
    seconds = time.perf_counter() - started
    model = solver.getModelStatus()
    info = solver.getInfo()
    status = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time limit",
    }.get(model, "failed")
    found_plan = info.primal_solution_status == 2  # kSolutionStatusFeasible
    flows = list(solver.getSolution().col_value[:n]) if found_plan else None
    if not opening:
        bound = info.objective_function_value if status == "optimal" else None
    else:
        bound = info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else None
    return _Solved(status, flows, bound, len(opening), seconds, solver.modelStatusToString(model))


def _worth(found: list[Link], part: list[int], flows: list[float]) -> float:
    return math.fsum(
        found[i].coefficient * q - found[i].fixed_cost_nok
        for i, q in zip(part, flows, strict=True)
        if q > TOLERANCE
    )


def _solve_part(
    found: list[Link],
    part: list[int],
    caps: Mapping[int, float],
    start: list[float],
    limit: float,
    relaxed: _Relaxed | None = None,
) -> _Solved:
    """One part. Its LP relaxation is solved first and strengthened by flow covers
    (``_relax``). A part of over ``CORE_PART_LINKS`` links then has a restricted MILP on the
    links the relaxation points at (``_core``) find a plan better than greedy's. Against
    the best plan so far, reduced-cost fixing (``_fix``) leaves out the links no plan as
    good opens, and what is kept falls into independent pieces, each with its own bound;
    each piece not proven by its bound is solved as a MILP (``_solve``, with the covers)
    from the plan's share of it, smallest gap first, in a share of the time by the gap it
    leaves, unless it has over ``LARGE_PART_LINKS`` links (the root of 99,271 links took
    most of a minute and a gigabyte), where its bound stays the relaxation's. The part's
    bound is the sum of its pieces' (each the lesser of the relaxation's and the MILP's)."""
    binaries = sum(1 for i in part if found[i].fixed_cost_nok > 0)
    if not binaries:
        return _solve(found, part, caps, start, limit)  # without binaries: an LP, solved
    started = time.perf_counter()
    deadline = started + limit
    if relaxed is None:
        relaxed = _relax(found, part, caps, limit)
    before = relaxed.seconds  # already spent on it (``optimise`` relaxes every part first)
    plan = list(start)
    message = "bound from the LP relaxation"
    if len(part) > CORE_PART_LINKS:
        core = _core(found, part, relaxed, start, CORE_PER_NODE)
        restricted = _solve(
            found,
            [part[p] for p in core],
            caps,
            [start[p] for p in core],
            # a part with no MILP of its own (fixing leaves it whole at its gap) gives the
            # restricted MILP all its time
            (deadline - time.perf_counter())
            * (1.0 if len(part) > LARGE_PART_LINKS else CORE_SHARE),
            # no covers: they cost the restricted MILP its plan (0.41 % against 0.33 % at
            # 5,000 listings when the relaxation had the time for its cut rounds)
        )
        message = restricted.message
        if restricted.flows is not None:
            candidate = [0.0] * len(part)
            for p, q in zip(core, restricted.flows, strict=True):
                candidate[p] = q
            if _worth(found, part, candidate) >= _worth(found, part, plan):
                plan = candidate
    if relaxed.duals is None:  # no relaxation in the time: the part whole, no bound of its own
        pieces, bounds = [list(range(len(part)))], [math.inf]
    else:
        pieces, bounds = _fix(found, part, relaxed.duals, plan)
    worths = [_worth(found, [part[p] for p in piece], [plan[p] for p in piece]) for piece in pieces]
    gaps = [max(b - w, 0.0) for b, w in zip(bounds, worths, strict=True)]
    order = sorted(range(len(pieces)), key=lambda k: (gaps[k], len(pieces[k])))
    proven = True
    left = math.fsum(gaps[k] for k in order if math.isfinite(gaps[k]))
    for k in order:
        piece, gap = pieces[k], gaps[k]
        if gap <= PROVEN_GAP * max(abs(bounds[k]), 1.0):
            continue  # the plan's share is within the piece's bound: nothing to solve
        if len(piece) > LARGE_PART_LINKS:
            proven = False
            continue
        remaining = deadline - time.perf_counter()
        share = remaining * gap / left if math.isfinite(gap) and left > 0 else remaining
        left -= gap if math.isfinite(gap) else 0.0
        members = [part[p] for p in piece]
        mine = [plan[p] for p in piece]
        solved = _solve(found, members, caps, mine, share, relaxed.cuts)
        message = solved.message
        if solved.flows is not None and _worth(found, members, solved.flows) >= _worth(
            found, members, mine
        ):
            for p, q in zip(piece, solved.flows, strict=True):
                plan[p] = q
        if solved.bound is not None:
            bounds[k] = min(bounds[k], solved.bound)
        proven = proven and solved.status == "optimal"
    bound: float | None = math.fsum(bounds) if all(math.isfinite(b) for b in bounds) else None
    if relaxed.bound is not None:
        bound = relaxed.bound if bound is None else min(bound, relaxed.bound)
    left_gap = _gap(_worth(found, part, plan), bound)
    proven = proven or (left_gap is not None and left_gap <= PROVEN_GAP)
    return _Solved(
        "optimal" if proven else "time limit",
        plan,
        bound,
        binaries,
        time.perf_counter() - started + before,
        message,
    )


def _gap(objective: float, bound: float | None) -> float | None:
    if bound is None:
        return None
    return max(0.0, (bound - objective) / max(abs(bound), 1e-9)) if bound else 0.0


def optimise(
    listings: Iterable[OpenListing],
    goal: Goal,
    permits: Mapping[uuid.UUID, frozenset[str]] | None = None,
    fixed_costs: Mapping[tuple[uuid.UUID, uuid.UUID], Decimal] | None = None,
) -> Plan:
    """The best plan for the park, with the greedy baseline and the solver's report per part.

    The links no optimal plan needs are removed (``prune``), the rest split into independent
    parts (``split``). Every part with binaries has its LP relaxation solved and
    strengthened by flow covers first (``_relax``, its cut rounds within their share of the
    time by links), so that each has a bound however the time goes (the largest part's
    relaxation, 99,271 links at 5,000 listings, takes 2.4 s of CPU; its MILP would not end
    in the limit). Then each part is solved on its own, smallest first, from the greedy
    plan's share of it, with the time left shared out by weight, half its share of the links
    and half its share of the gap greedy leaves to the parts' bounds (the largest part gets
    whatever the smaller ones did not use). A part keeps the better of the
    solver's plan and its greedy share. The plan's bound is the sum of the parts' bounds."""
    started = time.perf_counter()
    deadline = started + goal.time_limit_seconds
    found = links(listings, goal, permits, fixed_costs)
    baseline = greedy(found, goal)
    pruned = prune(found)
    parts = split(found, pruned.kept)
    in_greedy = {(f.offer.listing_id, f.need.listing_id): f.quantity for f in baseline.flows}
    flows: list[Flow] = []
    notes: list[str] = []
    left = sum(len(part) for part in parts)
    relaxations: dict[int, _Relaxed] = {}
    for index in reversed(range(len(parts))):  # every part's bound first, smallest first
        part = parts[index]
        if any(found[i].fixed_cost_nok > 0 for i in part):
            relaxations[index] = _relax(
                found,
                part,
                pruned.caps,
                deadline - time.perf_counter(),
                share=CUT_SHARE * len(part) / left,
            )
    starts = [
        [in_greedy.get((found[i].offer.listing_id, found[i].need.listing_id), 0.0) for i in part]
        for part in parts
    ]
    # each part's weight: half its share of the links, half its share of what greedy leaves
    # to the bounds, so that a middling part far from its bound is not starved (a part of
    # 2,270 links at 5,000 listings, 7.3 % from its bound, got 0.3 s by links alone)
    gaps = [0.0] * len(parts)
    for index, relaxed in relaxations.items():
        if relaxed.bound is not None:
            gaps[index] = max(relaxed.bound - _worth(found, parts[index], starts[index]), 0.0)
    total_gap = math.fsum(gaps)
    weights = [
        len(part) / left / 2
        + (gaps[index] / total_gap / 2 if total_gap > 0 else len(part) / left / 2)
        for index, part in enumerate(parts)
    ]
    left_weight = math.fsum(weights)
    reported: dict[int, Part] = {}
    variables = binaries = 0
    for index in reversed(range(len(parts))):  # smallest first
        part, start = parts[index], starts[index]
        share = outcome(
            (_flow(found[i], q) for i, q in zip(part, start, strict=True) if q > 0), goal
        )
        remaining = deadline - time.perf_counter()
        # its share by weight, but never less than a quarter of an even share among the
        # parts left: a small part needs a moment for presolve and the root, and usually
        # ends far sooner
        limit = max(
            remaining * weights[index] / left_weight if left_weight > 0 else remaining,
            remaining / (len(parts) - len(reported)) / 4,
        )
        left_weight -= weights[index]
        solved = _solve_part(found, part, pruned.caps, start, limit, relaxations.get(index))
        variables += len(part) + solved.binaries
        binaries += solved.binaries
        best = share
        if solved.flows is None:
            notes.append(
                f"a part of {len(part)} links: the solver found no plan ({solved.message}); "
                "its greedy plan is kept"
            )
        else:
            mine = outcome(
                (
                    _flow(found[i], q)
                    for i, q in zip(part, solved.flows, strict=True)
                    if q > TOLERANCE
                ),
                goal,
            )
            if mine.objective >= share.objective:
                best = mine
            else:
                notes.append(
                    f"a part of {len(part)} links: the solver stopped at a worse plan than "
                    "greedy; its greedy plan is kept"
                )
        flows.extend(best.flows)
        reported[index] = Part(
            offers=len({found[i].offer.listing_id for i in part}),
            needs=len({found[i].need.listing_id for i in part}),
            links=len(part),
            binaries=solved.binaries,
            status=solved.status,
            objective=best.objective,
            greedy=share.objective,
            bound=solved.bound,
            gap=_gap(best.objective, solved.bound),
            solve_seconds=solved.seconds,
        )
    plan = outcome(flows, goal)
    reports = [reported[index] for index in range(len(parts))]  # largest first
    bounds = [r.bound for r in reports]
    bound = (
        None if any(b is None for b in bounds) else math.fsum(b for b in bounds if b is not None)
    )
    statuses = {r.status for r in reports}
    status = (
        "failed"
        if "failed" in statuses
        else "time limit"
        if "time limit" in statuses
        else "optimal"
    )
    if not parts:
        bound = plan.objective
    return Plan(
        goal=goal,
        best=plan,
        greedy=baseline,
        status=status,
        gap=_gap(plan.objective, bound),
        bound=bound,
        solve_seconds=sum(r.solve_seconds for r in reports),
        links=len(found),
        variables=variables,
        binaries=binaries,
        notes=tuple(notes),
        pruned=len(found) - len(pruned.kept),
        parts=tuple(reports),
    )
