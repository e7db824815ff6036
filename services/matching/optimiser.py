"""The park-wide optimiser: which flows between all open offers and needs are best for the
park as a whole. No I/O here; HiGHS (through ``scipy.optimize.milp``) solves the model.

Model. One variable ``x`` per feasible link (offer i → need j), the flow in the need's unit;
one binary ``y`` per link that has a fixed cost to open.

    maximise   sum_ij v_ij x_ij - sum_ij f_ij y_ij
    subject to sum_j c_ij x_ij <= S_i                     supply of offer i (its unit)
               sum_i x_ij <= D_j                          demand of need j
               sum_i (hi_ip - U_jp) x_ij <= 0              blended max limit U of property p
               sum_i (L_jp - lo_ip) x_ij <= 0              blended min limit L of property p
               x_ij <= min(S_i / c_ij, D_j) y_ij           a fixed-cost link must be opened
               x >= 0, y in {0, 1}

A link is feasible when every pairwise rule of the matcher holds but quality (different
companies, resource, permit, units, windows, distance) and the offer states every property
the need limits. Quality is then kept by the blend, flow-weighted, with the offer's worst
stated value (its max against a max limit, its min against a min limit), except for
temperature and pressure: heat is never averaged, so a supply joins a need with a
temperature limit only when it meets that limit on its own.

``v_ij`` per unit of the need: ``surplus`` is the need's price minus the offer's (0 when
either is missing) less transport cost; ``co2e`` is kg CO2e avoided less road-transport
emissions; ``mix`` is surplus plus CO2e at the carbon price. ``f_ij`` is in NOK and counts
only in the money objectives.

The greedy baseline takes links in order of ``v_ij``, each as full as supply and demand
allow, only where quality holds pairwise (no blending), opening a fixed-cost link only if
its flow pays for it. Its plan is feasible for the model, so the optimum is never worse; if
the solver stops at its time limit with a worse incumbent, the greedy plan is kept.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from services.matching.domain import (
    OpenListing,
    co2e_avoided,
    distance_km,
    fits,
    mode_of,
    price_per_need_unit,
    transport_factors,
    unblendable_limits_hold,
)
from shared import knowledge
from shared.resources import UNBLENDABLE, convert_listing
from shared.units import convert, dimension

TOLERANCE = 1e-6


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

    @property
    def unit(self) -> str:
        return self.need.unit


@dataclass(frozen=True)
class Outcome:
    """A set of flows and what it is worth to the park."""

    flows: tuple[Flow, ...]
    objective: float
    surplus_nok: float
    co2e_net_kg: float
    fixed_costs_nok: float


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


def _per_unit(offer: OpenListing, need: OpenListing, goal: Goal) -> tuple[float, float, float]:
    """Surplus (NOK), net CO2e (kg) and the objective's value, per unit of the need."""
    ask = price_per_need_unit(offer, need.unit)
    bid = price_per_need_unit(need, need.unit)
    surplus = 0.0 if ask is None or bid is None else float(bid - ask) / 100
    distance = distance_km(offer, need)
    transport_kg = 0.0
    mode = mode_of(offer, need)
    if distance is not None and mode != "pipe" and dimension(need.unit) == "mass":
        tonnes = float(convert(Decimal(1), need.unit, "t") or 0)
        table = knowledge.emission_factors()
        factors = transport_factors(mode)
        transport_kg = tonnes * distance * float(sum(table[k].value for k in factors))
        if goal.transport_cost_nok_per_tkm is not None:
            surplus -= tonnes * distance * goal.transport_cost_nok_per_tkm
    avoided, _, _ = co2e_avoided(offer, Decimal(1), need.unit, need)
    co2e = (avoided or 0.0) - transport_kg
    if goal.objective == "surplus":
        value = surplus
    elif goal.objective == "co2e":
        value = co2e
    else:
        value = surplus + goal.carbon_price_nok_per_t * co2e / 1000
    return surplus, co2e, value


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
    for need in needs:
        limits = _limits(need)
        accepted = knowledge.accepted_by(need.named, need.use, need.accepts)
        for resource in sorted(accepted):
            for offer in offers.get(resource, ()):
                if not fits(offer, need, goal.max_distance_km, permits, quality=False):
                    continue
                if not unblendable_limits_hold(offer, need):
                    continue  # heat is never averaged: each supply holds the level alone
                bounds = _stated(offer)
                if any((name, unit) not in bounds for name, unit, _, _ in limits):
                    continue  # a blend cannot be judged on a property the offer does not state
                per = convert_listing(
                    offer.resource, offer.quality, Decimal(1), need.unit, offer.unit
                )
                assert per is not None  # the units rule held
                surplus, co2e, value = _per_unit(offer, need, goal)
                fixed = float(
                    fixed_costs.get((offer.listing_id, need.listing_id), goal.link_fixed_cost_nok)
                )
                found.append(
                    Link(
                        offer=offer,
                        need=need,
                        offer_units_per_unit=float(per),
                        capacity=min(float(offer.quantity) / float(per), float(need.quantity)),
                        surplus_nok=surplus,
                        co2e_net_kg=co2e,
                        coefficient=value,
                        fixed_cost_nok=fixed if goal.objective != "co2e" else 0.0,
                        bounds=bounds,
                        pairwise_quality=fits(offer, need, goal.max_distance_km, permits),
                        distance_km=distance_km(offer, need),
                    )
                )
    return found


def outcome(flows: Iterable[Flow], goal: Goal) -> Outcome:
    flows = tuple(flows)
    surplus = sum(f.surplus_nok for f in flows)
    co2e = sum(f.co2e_net_kg for f in flows)
    fixed = sum(f.fixed_cost_nok for f in flows)
    if goal.objective == "surplus":
        objective = surplus - fixed
    elif goal.objective == "co2e":
        objective = co2e
    else:
        objective = surplus + goal.carbon_price_nok_per_t * co2e / 1000 - fixed
    return Outcome(flows, objective, surplus, co2e, fixed)


def _flow(link: Link, quantity: float) -> Flow:
    return Flow(
        offer=link.offer,
        need=link.need,
        quantity=quantity,
        surplus_nok=link.surplus_nok * quantity,
        co2e_net_kg=link.co2e_net_kg * quantity,
        fixed_cost_nok=link.fixed_cost_nok,
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


def optimise(
    listings: Iterable[OpenListing],
    goal: Goal,
    permits: Mapping[uuid.UUID, frozenset[str]] | None = None,
    fixed_costs: Mapping[tuple[uuid.UUID, uuid.UUID], Decimal] | None = None,
) -> Plan:
    """The best plan for the park, with the greedy baseline and the solver's report."""
    found = links(listings, goal, permits, fixed_costs)
    baseline = greedy(found, goal)
    n = len(found)
    opening = [i for i, link in enumerate(found) if link.fixed_cost_nok > 0]
    if n == 0:
        return Plan(goal, baseline, baseline, "optimal", 0.0, 0.0, 0.0, 0, 0, 0)

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    upper: list[float] = []

    def row(entries: Iterable[tuple[int, float]], bound: float) -> None:
        index = len(upper)
        for col, value in entries:
            if value != 0:
                rows.append(index)
                cols.append(col)
                vals.append(value)
        upper.append(bound)

    by_offer: dict[uuid.UUID, list[int]] = defaultdict(list)
    by_need: dict[uuid.UUID, list[int]] = defaultdict(list)
    for i, link in enumerate(found):
        by_offer[link.offer.listing_id].append(i)
        by_need[link.need.listing_id].append(i)
    for members in by_offer.values():
        offer = found[members[0]].offer
        row(((i, found[i].offer_units_per_unit) for i in members), float(offer.quantity))
    for members in by_need.values():
        need = found[members[0]].need
        row(((i, 1.0) for i in members), float(need.quantity))
        for name, unit, low, high in _limits(need):
            if high is not None:
                row(((i, found[i].bounds[(name, unit)][1] - high) for i in members), 0.0)
            if low is not None:
                row(((i, low - found[i].bounds[(name, unit)][0]) for i in members), 0.0)
    for position, i in enumerate(opening):
        row(((i, 1.0), (n + position, -found[i].capacity)), 0.0)

    size = n + len(opening)
    objective = np.zeros(size)
    objective[:n] = [-link.coefficient for link in found]
    objective[n:] = [found[i].fixed_cost_nok for i in opening]
    matrix = coo_matrix(
        (np.array(vals), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
        shape=(len(upper), size),
    ).tocsr()
    integrality = np.zeros(size, dtype=np.int64)
    integrality[n:] = 1
    started = time.perf_counter()
    result = milp(
        objective,
        constraints=LinearConstraint(matrix, -np.inf, np.array(upper)),
        integrality=integrality,
        bounds=Bounds(np.zeros(size), np.array([k.capacity for k in found] + [1.0] * len(opening))),
        options={"time_limit": goal.time_limit_seconds, "mip_rel_gap": 1e-6, "disp": False},
    )
    seconds = time.perf_counter() - started
    notes: list[str] = []
    status = {0: "optimal", 1: "time limit"}.get(result.status, "failed")
    if result.x is None:
        notes.append(f"the solver found no plan ({result.message}); the greedy plan is kept")
        best = baseline
    else:
        flows = [
            _flow(link, float(quantity))
            for link, quantity in zip(found, result.x[:n], strict=True)
            if quantity > TOLERANCE
        ]
        best = outcome(flows, goal)
        if best.objective < baseline.objective:
            notes.append("the solver stopped at a worse plan than greedy; the greedy plan is kept")
            best = baseline
    bound = getattr(result, "mip_dual_bound", None)
    bound = None if bound is None or not math.isfinite(bound) else -float(bound)
    gap = getattr(result, "mip_gap", None)
    if not opening and result.status == 0:
        gap, bound = 0.0, best.objective  # a linear programme solved to optimality
    if bound is not None:
        gap = max(0.0, (bound - best.objective) / max(abs(bound), 1e-9)) if bound else 0.0
    return Plan(
        goal=goal,
        best=best,
        greedy=baseline,
        status=status,
        gap=None if gap is None else float(gap),
        bound=bound,
        solve_seconds=seconds,
        links=n,
        variables=size,
        binaries=len(opening),
        notes=tuple(notes),
    )
