"""The park-wide optimiser: a literature optimum, blending, fixed costs, permits, and
properties on random parks (every limit kept, never worse than greedy)."""

import json
import math
from pathlib import Path
from random import Random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from typer.testing import CliRunner

from services.matching import optimiser
from services.matching.domain import unestimated_rate
from services.matching.optimiser import links, prune, split, violations
from services.matching.park import Park, PlanReport
from shared.resources import UNBLENDABLE
from symbiosis.cli import app


def water(
    name: str, company: str, kind: str, flow: float, ppm: float, price: float
) -> dict[str, Any]:
    limit = {"value": ppm} if kind == "offer" else {"max": ppm}
    return {
        "id": name,
        "company": company,
        "kind": kind,
        "resource": "class:process_water",
        "quantity": flow,
        "unit": "m3",
        "price_per_unit_nok": price,
        "quality": [{"property": "contaminant", "unit": "ppm", **limit}],
    }


# Polley, G.T. and Polley, H.L. (2000), "Design better water networks", Chemical
# Engineering Progress 96(2), 47-52; the standard single-contaminant fixed-flowrate example
# (Example 1 in Foo, D.C.Y. (2009), "State-of-the-art review of pinch analysis techniques
# for water network synthesis", Ind. Eng. Chem. Res. 48(11), 5125-5159). Flows in t/h,
# concentrations in ppm. Published targets: fresh water 70 t/h, wastewater 50 t/h.
SINKS = [("SK1", 50, 20), ("SK2", 100, 50), ("SK3", 80, 100), ("SK4", 70, 200)]
SOURCES = [("SR1", 50, 50), ("SR2", 100, 100), ("SR3", 70, 150), ("SR4", 60, 250)]


def polley_park() -> Park:
    # Fresh water costs 1 NOK/t, reuse is free and every sink is worth 10 NOK/t to fill:
    # the best plan fills every sink with the least fresh water. Each process unit is its
    # own party, since the exchange never proposes a company's offer to its own need.
    listings = [water("FW", "utility", "offer", 10_000, 0, 1)]
    listings += [water(n, n, "offer", f, c, 0) for n, f, c in SOURCES]
    listings += [water(n, f"{n}-inlet", "need", f, c, 10) for n, f, c in SINKS]
    return Park(name="Polley and Polley (2000)", listings=listings)


def test_the_optimiser_reproduces_the_published_minimum_fresh_water() -> None:
    park = polley_park()
    plan = park.optimise()
    assert plan.status == "optimal" and plan.gap == 0
    fresh = sum(f.quantity for f in plan.best.flows if f.offer.title == "FW")
    assert fresh == pytest.approx(70, abs=1e-6)
    reused = sum(f.quantity for f in plan.best.flows if f.offer.title != "FW")
    assert sum(f for _, f, _ in SOURCES) - reused == pytest.approx(50, abs=1e-6)  # wastewater
    for name, flow, _ in SINKS:  # every sink gets its whole flow
        got = sum(f.quantity for f in plan.best.flows if f.need.title == name)
        assert got == pytest.approx(flow, abs=1e-6)
    assert violations(links(park.open_listings(), park.goal()), plan.best) == []
    # pairwise matching cannot blend, so it needs 100 t/h of fresh water
    assert sum(f.quantity for f in plan.greedy.flows if f.offer.title == "FW") == pytest.approx(100)
    assert plan.improvement == pytest.approx(30)


def chips(
    name: str, company: str, kind: str, tonnes: float, moisture: float, price: float, **extra: Any
) -> dict[str, Any]:
    spec = {"value": moisture} if kind == "offer" else {"max": moisture}
    return {
        "id": name,
        "company": company,
        "kind": kind,
        "resource": "03 01 05",
        "quantity": tonnes,
        "unit": "t",
        "price_per_unit_nok": price,
        "quality": [{"property": "moisture", "unit": "%", **spec}],
        **extra,
    }


def test_a_need_is_served_by_a_blend_under_its_quality_limit() -> None:
    park = Park(
        listings=[
            chips("dry", "sawmill", "offer", 10, 10, 100),
            chips("wet", "joinery", "offer", 10, 40, 50),
            chips("boiler", "heating", "need", 20, 25, 300),
        ]
    )
    plan = park.optimise()
    used = {f.offer.title: round(f.quantity, 6) for f in plan.best.flows}
    assert used == {"dry": 10, "wet": 10}  # (10 x 10 % + 10 x 40 %) / 20 = 25 %
    assert {f.offer.title for f in plan.greedy.flows} == {"dry"}  # 40 % alone is too wet
    assert plan.best.surplus_nok == pytest.approx(10 * 200 + 10 * 250)


def test_a_link_is_opened_only_when_its_flow_pays_its_fixed_cost() -> None:
    park = Park(
        listings=[
            chips("a", "sawmill", "offer", 10, 10, 100),
            chips("b", "joinery", "offer", 10, 10, 100),
            chips("boiler", "heating", "need", 10, 25, 300),
        ],
        links=[{"offer": "a", "need": "boiler", "fixed_cost_nok": 500}],
        link_fixed_cost_nok=2500,
    )
    plan = park.optimise()
    assert plan.binaries == 1 and plan.pruned == 1  # b's 2,000 NOK never pay 2,500
    assert [(f.offer.title, f.quantity) for f in plan.best.flows] == [("a", 10)]
    assert plan.best.objective == pytest.approx(10 * 200 - 500)
    assert plan.gap is not None and plan.gap <= 1e-6


def test_a_hazardous_offer_goes_only_to_a_company_with_the_permit() -> None:
    sludge = {"resource": "19 08 13*", "unit": "t", "quantity": 5}
    park = Park(
        companies=[
            {"id": "plant", "permits": []},
            {"id": "licensed", "permits": ["190813"]},
            {"id": "unlicensed"},
        ],
        listings=[
            {
                "id": "sludge",
                "company": "plant",
                "kind": "offer",
                "price_per_unit_nok": 0,
                **sludge,
            },
            {"id": "ok", "company": "licensed", "kind": "need", "price_per_unit_nok": 1, **sludge},
            {
                "id": "no",
                "company": "unlicensed",
                "kind": "need",
                "price_per_unit_nok": 9,
                **sludge,
            },
        ],
    )
    plan = park.optimise()
    assert [(f.need.title, f.quantity) for f in plan.best.flows] == [("ok", 5)]


def test_sites_beyond_the_distance_limit_are_not_linked() -> None:
    park = Park(
        max_distance_km=10,
        companies=[
            {"id": "near", "latitude": 59.20, "longitude": 10.95},
            {"id": "far", "latitude": 59.40, "longitude": 10.95},  # 22 km north
            {"id": "boiler", "latitude": 59.21, "longitude": 10.95},
        ],
        listings=[
            chips("near", "near", "offer", 5, 10, 0),
            chips("far", "far", "offer", 5, 10, 0),
            chips("need", "boiler", "need", 10, 20, 100),
        ],
    )
    plan = park.optimise()
    assert {f.offer.title for f in plan.best.flows} == {"near"}


def test_a_park_file_with_mistakes_is_refused_with_every_reason() -> None:
    with pytest.raises(ValueError) as caught:
        Park.model_validate(
            {
                "objective": "mix",
                "listings": [
                    {
                        "id": "a",
                        "company": "x",
                        "kind": "offer",
                        "resource": "99 99 99",
                        "quantity": 1,
                        "unit": "t",
                    },
                    {
                        "id": "b",
                        "company": "x",
                        "kind": "need",
                        "resource": "class:sunshine",
                        "quantity": -1,
                        "unit": "t",
                    },
                ],
            }
        )
    text = str(caught.value)
    assert "99 99 99" in text and "unknown resource class" in text and "greater than 0" in text


RESOURCES = ["030105", "030101", "class:process_water"]


@st.composite
def parks(draw: st.DrawFn) -> Park:
    companies = [f"c{i}" for i in range(draw(st.integers(2, 5)))]
    listings = []
    for i in range(draw(st.integers(1, 14))):
        resource = draw(st.sampled_from(RESOURCES))
        kind = draw(st.sampled_from(["offer", "need"]))
        unit = "m3" if resource.startswith("class:") else draw(st.sampled_from(["t", "kg"]))
        quantity = draw(st.integers(1, 50)) * (1000 if unit == "kg" else 1)
        level = draw(st.integers(0, 60))
        quality = []
        if kind == "offer" and draw(st.booleans()):
            quality = [{"property": "moisture", "unit": "%", "value": level}]
        elif kind == "need" and draw(st.booleans()):
            quality = [{"property": "moisture", "unit": "%", "max": level}]
        listings.append(
            {
                "id": f"l{i}",
                "company": draw(st.sampled_from(companies)),
                "kind": kind,
                "resource": resource,
                "quantity": quantity,
                "unit": unit,
                "price_per_unit_nok": draw(st.one_of(st.none(), st.integers(-200, 400))),
                "quality": quality,
            }
        )
    return Park.model_validate(
        {
            "objective": draw(st.sampled_from(["surplus", "co2e", "mix"])),
            "carbon_price_nok_per_t": 1000,
            "link_fixed_cost_nok": draw(st.sampled_from([0, 0, 300])),
            "listings": listings,
        }
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parks())
def test_the_plan_keeps_every_limit_and_is_never_worse_than_greedy(park: Park) -> None:
    plan = park.optimise()
    found = links(park.open_listings(), park.goal())
    assert violations(found, plan.best) == []
    assert violations(found, plan.greedy) == []
    assert plan.best.objective >= plan.greedy.objective - 1e-6
    for flow in plan.best.flows:
        assert flow.offer.company_id != flow.need.company_id


def test_symbiosis_optimize_prints_the_plan_and_writes_it_as_json(tmp_path: Path) -> None:
    park_file = tmp_path / "polley.json"
    park_file.write_text(polley_park().model_dump_json(), encoding="utf-8")
    result = CliRunner().invoke(app, ["optimize", str(park_file)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "SR2" in result.output and "greedy pairwise: 2,900.00 NOK" in result.output
    assert "Solver: optimal, gap 0.00%" in result.output
    report = PlanReport.model_validate_json((tmp_path / "polley.plan.json").read_text())
    assert report.plan.objective == pytest.approx(2930) and report.improvement == pytest.approx(30)


def test_symbiosis_optimize_refuses_a_bad_park_and_writes_nothing(tmp_path: Path) -> None:
    park_file = tmp_path / "bad.json"
    park_file.write_text(json.dumps({"listings": [{"id": "a", "kind": "offer"}]}))
    result = CliRunner().invoke(app, ["optimize", str(park_file)], terminal_width=200)
    assert result.exit_code == 1
    words = " ".join(result.output.split())
    assert "is not a valid park" in words and "listings.0.company: Field required" in words
    assert not (tmp_path / "bad.plan.json").exists()


def heat(
    name: str, company: str, kind: str, mwh: float, celsius: float, price: float
) -> dict[str, Any]:
    limit = {"value": celsius} if kind == "offer" else {"min": celsius}
    return {
        "id": name,
        "company": company,
        "kind": kind,
        "resource": "class:heat",
        "quantity": mwh,
        "unit": "MWh",
        "price_per_unit_nok": price,
        "quality": [{"property": "temperature_c", "unit": "°C", **limit}],
    }


def test_heat_is_never_averaged() -> None:
    """A need for heat at 100 °C or more is not met by half 350 °C and half 35 °C heat."""
    park = Park(
        name="heat",
        listings=[
            heat("steam-condensate", "refinery", "offer", 50, 350, 10),
            heat("data-hall", "datacentre", "offer", 500, 35, 0),
            heat("dryer", "plasterboard", "need", 100, 100, 200),
        ],
    )
    plan = park.optimise()
    used = {f.offer.title: f.quantity for f in plan.best.flows}
    assert used == pytest.approx({"steam-condensate": 50})
    assert violations(links(park.open_listings(), park.goal()), plan.best) == []


def reference_optimum(park: Park) -> float:
    """The optimum of the whole model, every feasible link in it and nothing split or
    removed, solved by scipy's HiGHS: what pruning and splitting must reproduce."""
    return reference_plan(park)[0]


def reference_plan(park: Park) -> tuple[float, list[float]]:
    """The optimum of the whole model (as ``reference_optimum``) and an optimal plan: the
    flow on each link of ``links()``, in its order."""
    goal = park.goal()
    found = links(park.open_listings(), goal)
    if not found:
        return 0.0, []
    n = len(found)
    opening = [i for i, k in enumerate(found) if k.fixed_cost_nok > 0]
    rows: list[list[float]] = []
    upper: list[float] = []
    size = n + len(opening)

    def row(entries: dict[int, float], bound: float) -> None:
        line = [0.0] * size
        for col, value in entries.items():
            line[col] += value
        rows.append(line)
        upper.append(bound)

    for offer in {k.offer.listing_id: k.offer for k in found}.values():
        members = [i for i, k in enumerate(found) if k.offer.listing_id == offer.listing_id]
        row({i: found[i].offer_units_per_unit for i in members}, float(offer.quantity))
    for need in {k.need.listing_id: k.need for k in found}.values():
        members = [i for i, k in enumerate(found) if k.need.listing_id == need.listing_id]
        row({i: 1.0 for i in members}, float(need.quantity))
        for q in need.quality:
            if q["property"] in UNBLENDABLE:
                continue
            key = (q["property"], q["unit"])
            if q.get("max") is not None:
                row({i: found[i].bounds[key][1] - q["max"] for i in members}, 0.0)
            if q.get("min") is not None:
                row({i: q["min"] - found[i].bounds[key][0] for i in members}, 0.0)
    for position, i in enumerate(opening):
        row({i: 1.0, n + position: -found[i].capacity}, 0.0)
    cost = [-k.coefficient for k in found] + [found[i].fixed_cost_nok for i in opening]
    result = milp(
        np.array(cost),
        constraints=LinearConstraint(np.array(rows), -np.inf, np.array(upper)),
        integrality=np.array([0] * n + [1] * len(opening)),
        bounds=Bounds(np.zeros(size), np.array([k.capacity for k in found] + [1.0] * len(opening))),
        options={"mip_rel_gap": 1e-9},
    )
    assert result.status == 0
    return -float(result.fun), [float(q) for q in result.x[:n]]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parks())
def test_pruning_and_splitting_keep_the_optimum_of_the_whole_model(park: Park) -> None:
    plan = park.optimise()
    assert plan.status == "optimal"
    best = reference_optimum(park)
    assert plan.best.objective == pytest.approx(best, rel=1e-5, abs=1e-4)
    assert plan.bound is not None and plan.bound >= best - 1e-4 - 1e-5 * abs(best)
    # the parts add up: their plans to the plan, their bounds to its bound
    assert sum(p.objective for p in plan.parts) == pytest.approx(plan.best.objective, abs=1e-6)
    assert sum(p.bound or 0 for p in plan.parts) == pytest.approx(plan.bound, abs=1e-6)
    assert sum(p.links for p in plan.parts) + plan.pruned == plan.links


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parks())
def test_a_part_started_from_a_restricted_model_keeps_the_optimum(park: Park) -> None:
    """Every part goes the way of a large one (its LP relaxation, a restricted MILP on the
    links the relaxation points at, then the whole part's MILP from that plan): the plan is
    still the optimum of the whole model, and the bound still above it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(optimiser, "CORE_PART_LINKS", 0)
        patch.setattr(optimiser, "CORE_PER_NODE", 1)
        plan = park.optimise()
    best = reference_optimum(park)
    assert plan.status == "optimal"
    assert plan.best.objective == pytest.approx(best, rel=1e-5, abs=1e-4)
    assert plan.bound is not None and plan.bound >= best - 1e-4 - 1e-5 * abs(best)
    assert violations(links(park.open_listings(), park.goal()), plan.best) == []


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parks())
def test_a_part_too_large_for_its_milp_is_bounded_by_its_relaxation(park: Park) -> None:
    """Every part goes the way of the largest (no MILP of the whole part: a plan from the
    restricted MILP, the bound from the LP relaxation): the plan keeps every limit and is
    never worse than greedy nor better than the optimum, and the bound is never below it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(optimiser, "CORE_PART_LINKS", 0)
        patch.setattr(optimiser, "LARGE_PART_LINKS", 0)
        patch.setattr(optimiser, "CORE_PER_NODE", 1)
        plan = park.optimise()
    best = reference_optimum(park)
    tolerance = 1e-4 + 1e-5 * abs(best)
    assert violations(links(park.open_listings(), park.goal()), plan.best) == []
    assert plan.greedy.objective - 1e-6 <= plan.best.objective <= best + tolerance
    assert plan.bound is not None and plan.bound >= best - tolerance
    assert plan.gap is not None and plan.gap >= 0
    if plan.status == "optimal":
        assert plan.best.objective == pytest.approx(best, rel=1e-5, abs=1e-4)


def test_a_loss_making_supply_that_dilutes_a_blend_is_kept() -> None:
    """Dry chips sold at a loss let wet, valuable chips into the boiler: pruning must not
    remove a link only because its own value is negative when it dilutes a blend."""
    park = Park(
        listings=[
            chips("dry", "sawmill", "offer", 10, 10, 310),  # 10 NOK/t below the boiler's bid
            chips("wet", "joinery", "offer", 10, 40, 50),
            chips("boiler", "heating", "need", 20, 25, 300),
        ]
    )
    found = links(park.open_listings(), park.goal())
    assert len(prune(found).kept) == 2
    plan = park.optimise()
    used = {f.offer.title: round(f.quantity, 6) for f in plan.best.flows}
    assert used == {"dry": 10, "wet": 10}
    assert plan.best.objective == pytest.approx(-10 * 10 + 10 * 250)


def test_a_blend_bounds_the_flow_that_needs_diluting_and_prunes_what_nothing_dilutes() -> None:
    park = Park(
        listings=[
            chips("dry", "sawmill", "offer", 5, 10, 100),
            chips("wet", "joinery", "offer", 100, 40, 50),
            chips("boiler", "heating", "need", 100, 25, 300),
            chips("soaked", "forest", "offer", 100, 60, 0),
            chips("kiln", "kilnco", "need", 50, 5, 300),  # ...here: nothing is drier than 5 %
        ]
    )
    found = links(park.open_listings(), park.goal())
    pruned = prune(found)
    caps = {(found[i].offer.title, found[i].need.title): pruned.caps[i] for i in pruned.kept}
    # 5 t at 15 points under the limit absorb 5 t at 15 points over it: at most 5 t of wet
    assert caps[("wet", "boiler")] == pytest.approx(5)
    assert caps[("dry", "boiler")] == pytest.approx(5)
    # soaked → boiler: 35 points over, 5 t x 15 points of room: 75 / 35 t
    assert caps[("soaked", "boiler")] == pytest.approx(75 / 35)
    # nothing going to the kiln meets 5 %: none of its three links can carry a tonne
    assert all(need != "kiln" for _, need in caps) and pruned.no_flow == 3
    plan = park.optimise()
    used = {f.offer.title: round(f.quantity, 6) for f in plan.best.flows}
    # the 75 point-tonnes of room go to wet (250 NOK/t for 15 points over the limit), not to
    # soaked (300 NOK/t for 35 points)
    assert used == {"dry": 5, "wet": 5}
    assert violations(found, plan.best) == []


def test_a_link_that_cannot_pay_its_fixed_cost_is_left_out_of_the_model() -> None:
    park = Park(
        listings=[
            chips("small", "sawmill", "offer", 2, 10, 100),  # 2 t x 200 NOK < 500 NOK
            chips("large", "joinery", "offer", 10, 10, 100),  # 10 t x 200 NOK > 500 NOK
            chips("boiler", "heating", "need", 10, 25, 300),
        ],
        link_fixed_cost_nok=500,
    )
    found = links(park.open_listings(), park.goal())
    pruned = prune(found)
    assert [found[i].offer.title for i in pruned.kept] == ["large"] and pruned.no_value == 1
    plan = park.optimise()
    assert plan.pruned == 1 and plan.binaries == 1
    assert [(f.offer.title, f.quantity) for f in plan.best.flows] == [("large", 10)]


def two_clusters() -> Park:
    return Park(
        listings=[
            chips("a", "sawmill", "offer", 10, 10, 100),
            chips("b", "joinery", "offer", 10, 10, 100),
            chips("boiler", "heating", "need", 15, 25, 300),
            water("w1", "utility", "offer", 100, 0, 1),
            water("w2", "quarry", "offer", 100, 0, 1),
            water("sink", "plant", "need", 150, 10, 2),
            chips("stove", "bakery", "need", 1, 25, 50),  # 50 < 100: no offer pays to send
        ],
        link_fixed_cost_nok=10,
    )


def test_the_park_splits_into_the_parts_its_kept_links_join() -> None:
    park = two_clusters()
    found = links(park.open_listings(), park.goal())
    everything = split(found, range(len(found)))
    assert [sorted({found[i].offer.title for i in p}) for p in everything] == [
        ["a", "b"],  # a and b both reach the boiler and the stove: one part of four links
        ["w1", "w2"],
    ]
    assert [len(p) for p in everything] == [4, 2]
    pruned = prune(found)
    assert pruned.no_value == 2  # the stove's links: a loss at any flow
    assert [len(p) for p in split(found, pruned.kept)] == [2, 2]


def test_the_plan_reports_each_part_and_the_gap_from_the_sum_of_their_bounds() -> None:
    park = two_clusters()
    plan = park.optimise()
    assert plan.status == "optimal" and plan.links == 6 and plan.pruned == 2
    assert [(p.offers, p.needs, p.links, p.binaries, p.status) for p in plan.parts] == [
        (2, 1, 2, 2, "optimal"),
        (2, 1, 2, 2, "optimal"),
    ]
    chips_part, water_part = sorted(plan.parts, key=lambda p: p.objective, reverse=True)
    assert chips_part.objective == pytest.approx(15 * 200 - 20)  # 10 t + 5 t, two links
    assert chips_part.greedy == pytest.approx(15 * 200 - 20)
    assert water_part.objective == pytest.approx(150 * 1 - 20)
    assert plan.bound == pytest.approx(sum(p.bound or 0 for p in plan.parts))
    assert plan.gap is not None and plan.gap <= 1e-6
    report = PlanReport.of(plan)
    assert [(p.links, p.status) for p in report.parts] == [(2, "optimal"), (2, "optimal")]
    assert report.pruned == 2
    assert sum(p.objective for p in report.parts) == pytest.approx(report.plan.objective)


def test_the_solver_writes_nothing_to_standard_output() -> None:
    """A service's log is its standard output, one JSON object per line: HiGHS's banner,
    which its library prints when the first solver is made, must not reach it."""
    import subprocess
    import sys

    script = "import services.matching.optimiser, highspy; highspy.Highs(); print('ours')"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout == "ours\n"


def test_a_pair_whose_co2e_is_not_estimated_counts_as_the_ranking_counts_it() -> None:
    """Issue 16: the matcher ranks a pair whose CO2e is not estimated by the least sourced
    rate of its dimension (``unestimated_rate``), not as saving nothing; the optimiser's
    objective counts it the same way, so such an exchange is planned rather than left out."""
    draff = {"resource": "02 07 04", "unit": "t", "quantity": 10}  # no impact row
    park = Park(
        objective="co2e",
        listings=[
            {"id": "distillery", "company": "a", "kind": "offer", **draff},
            {"id": "farm", "company": "b", "kind": "need", **draff},
        ],
    )
    (link,) = links(park.open_listings(), park.goal())
    rate = unestimated_rate("mass")  # kg CO2e per kg
    assert not link.co2e_estimated and link.coefficient == pytest.approx(1000 * rate)
    plan = park.optimise()
    assert [(f.offer.title, f.quantity, f.co2e_estimated) for f in plan.best.flows] == [
        ("distillery", 10, False)
    ]
    assert plan.best.objective == pytest.approx(10_000 * rate)
    # a floor is not CO2e avoided: the plan reports none
    assert plan.best.co2e_net_kg == 0
    report = PlanReport.of(plan)
    assert report.plan.co2e_net_kg == 0 and report.plan.flows[0].co2e_estimated is False


def test_the_optimise_command_says_when_a_flows_co2e_is_not_estimated(tmp_path: Path) -> None:
    draff = {"resource": "02 07 04", "unit": "t", "quantity": 10}  # no impact row
    park_file = tmp_path / "park.json"
    park_file.write_text(
        json.dumps(
            {
                "objective": "co2e",
                "listings": [
                    {"id": "distillery", "company": "a", "kind": "offer", **draff},
                    {"id": "farm", "company": "b", "kind": "need", **draff},
                ],
            }
        )
    )
    result = CliRunner().invoke(app, ["optimize", str(park_file)], terminal_width=200)
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if "distillery" in line]
    assert "not estimated" in row


def test_flow_covers_charge_a_link_that_a_shared_supply_keeps_from_being_full() -> None:
    """The sawmill's 20 t can fill the heating plant (15 t) or the dryer (10 t), not both:
    the LP relaxation opens the dryer's link halfway and pays half its fixed cost; the flow
    cover on the sawmill's supply (15 + 10 - 20 = 5 t too many) makes it pay more, and the
    bound comes down towards the optimum without passing it."""
    park = Park(
        listings=[
            chips("a", "sawmill", "offer", 20, 0, 0),
            chips("b", "joinery", "offer", 20, 0, 50),
            chips("p", "heating", "need", 15, 100, 100),
            chips("r", "dryer", "need", 10, 100, 100),
        ],
        link_fixed_cost_nok=300,
    )
    found = links(park.open_listings(), park.goal())
    pruned = prune(found)
    plain = optimiser._relax(found, pruned.kept, pruned.caps, 10, rounds=0)
    covered = optimiser._relax(found, pruned.kept, pruned.caps, 10)
    assert plain.bound == pytest.approx(1650) and not plain.cuts
    assert covered.cuts and covered.bound == pytest.approx(1550)
    assert reference_optimum(park) == pytest.approx(1400) == park.optimise().best.objective


@st.composite
def single_node_sets(draw: st.DrawFn) -> tuple[Park, list[float], list[float]]:
    """A few offers and needs of one resource, every link with a fixed cost, and a point of
    the LP relaxation's box (a flow within each link's bound, an opening at least its share)."""
    offers = draw(st.integers(1, 4))
    needs = draw(st.integers(1, 3))
    listings = [
        chips(f"o{k}", f"s{k}", "offer", draw(st.integers(1, 40)), 0, 0) for k in range(offers)
    ] + [chips(f"n{k}", f"r{k}", "need", draw(st.integers(1, 40)), 100, 100) for k in range(needs)]
    park = Park(listings=listings, link_fixed_cost_nok=100)
    size = offers * needs
    shares = draw(st.lists(st.floats(0, 1), min_size=size, max_size=size))
    opened = [
        s + (1 - s) * t
        for s, t in zip(
            shares, draw(st.lists(st.floats(0, 1), min_size=size, max_size=size)), strict=True
        )
    ]
    return park, shares, opened


@settings(max_examples=300, deadline=None)
@given(single_node_sets())
def test_every_flow_cover_holds_for_every_plan(case: tuple[Park, list[float], list[float]]) -> None:
    """Every cover ``_covers`` finds for any point is kept by every plan: for each way of
    opening the cover's links, the most its left side can reach over the plans with those
    links open (an LP over the supply and demand rows, by scipy) is at most its bound."""
    park, shares, opened = case
    found = links(park.open_listings(), park.goal())
    part = list(range(len(found)))
    caps = {i: found[i].capacity for i in part}
    flows = [s * caps[i] for i, s in zip(part, shares, strict=True)]
    cuts = optimiser._covers(found, part, caps, flows, dict(enumerate(opened)))
    offers = sorted({k.offer.listing_id for k in found})
    needs = sorted({k.need.listing_id for k in found})
    rows = [
        [k.offer_units_per_unit if k.offer.listing_id == o else 0.0 for k in found] for o in offers
    ]
    rows += [[1.0 if k.need.listing_id == n else 0.0 for k in found] for n in needs]
    upper = [
        float(next(k.offer.quantity for k in found if k.offer.listing_id == o)) for o in offers
    ]
    upper += [float(next(k.need.quantity for k in found if k.need.listing_id == n)) for n in needs]
    for cut in cuts:
        members = [i for i, _, _ in cut.terms]
        for pattern in range(2 ** len(members)):
            open_ = {i for b, i in enumerate(members) if pattern >> b & 1}
            weights = {i: w for i, w, _ in cut.terms}
            result = linprog(
                [-weights.get(i, 0.0) for i in part],
                A_ub=np.array(rows),
                b_ub=np.array(upper),
                bounds=[(0, caps[i] if i in open_ or i not in weights else 0) for i in part],
            )
            assert result.status == 0
            reach = -result.fun - sum(c for i, _, c in cut.terms if i in open_)
            assert reach <= cut.upper + 1e-6 * max(1.0, abs(cut.upper))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parks())
def test_a_plan_has_a_bound_when_no_milp_ends_in_time(park: Park) -> None:
    """Every part's relaxation is solved before any MILP: when no MILP finds anything in
    its time (as on a loaded machine at 5,000 listings), the plan is greedy's and still has
    a bound, never below the optimum."""

    def out_of_time(*args: Any, **kwargs: Any) -> Any:
        return optimiser._Solved("time limit", None, None, 0, 0.0, "Time limit reached")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(optimiser, "_solve", out_of_time)
        plan = park.optimise()
    if any(k.fixed_cost_nok > 0 for k in links(park.open_listings(), park.goal())):
        assert plan.bound is not None and plan.gap is not None
        best = reference_optimum(park)
        assert plan.bound >= best - 1e-4 - 1e-5 * abs(best)
    assert plan.best.objective == pytest.approx(plan.greedy.objective)


@st.composite
def dense_parks(draw: st.DrawFn) -> Park:
    """Wood chips from a few sawmills to a few boilers, every company its own, every link
    with a fixed cost: one part where most offers reach most needs, as at park scale, and
    where a plan's quantities rarely pack into full links."""
    offers = draw(st.integers(2, 7))
    needs = draw(st.integers(2, 6))
    listings = [
        chips(
            f"o{k}",
            f"s{k}",
            "offer",
            draw(st.integers(1, 40)),
            draw(st.integers(5, 50)),
            draw(st.integers(0, 150)),
        )
        for k in range(offers)
    ] + [
        chips(
            f"n{k}",
            f"r{k}",
            "need",
            draw(st.integers(1, 40)),
            draw(st.integers(15, 60)),
            draw(st.integers(50, 300)),
        )
        for k in range(needs)
    ]
    return Park(listings=listings, link_fixed_cost_nok=draw(st.sampled_from([50, 300, 1000])))


def check_fixing_keeps_every_optimal_plan(park: Park) -> None:
    """Reduced-cost fixing (``_fix``) against greedy's share of each part and against the
    optimiser's own plan (the tightest incumbent: every link not in it that loses anything
    is a candidate) keeps every link of an optimal plan found by scipy, and each piece's
    bound is at least that plan's worth in the piece."""
    goal = park.goal()
    found = links(park.open_listings(), goal)
    best, optimum = reference_plan(park)
    pruned = prune(found)
    in_greedy = {
        (f.offer.listing_id, f.need.listing_id): f.quantity
        for f in optimiser.greedy(found, goal).flows
    }
    ours = {(f.offer.listing_id, f.need.listing_id): f.quantity for f in park.optimise().best.flows}
    tolerance = 1e-4 + 1e-6 * abs(best)

    def worth(i: int) -> float:
        q = optimum[i]
        return found[i].coefficient * q - found[i].fixed_cost_nok if q > 1e-7 else 0.0

    for part in split(found, pruned.kept):
        relaxed = optimiser._relax(found, part, pruned.caps, 10)
        assert relaxed.duals is not None and relaxed.bound is not None
        assert relaxed.bound >= math.fsum(worth(i) for i in part) - tolerance
        for incumbent in (in_greedy, ours):
            plan = [
                incumbent.get((found[i].offer.listing_id, found[i].need.listing_id), 0.0)
                for i in part
            ]
            pieces, bounds = optimiser._fix(found, part, relaxed.duals, plan)
            kept = {part[p] for piece in pieces for p in piece}
            lost = [i for i in part if optimum[i] > 1e-6 and i not in kept]
            assert lost == [], f"an optimal plan's links left out: {lost}"
            for piece, bound in zip(pieces, bounds, strict=True):
                assert bound >= math.fsum(worth(part[p]) for p in piece) - tolerance
            assert math.fsum(bounds) <= relaxed.bound + tolerance


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_parks())
def test_reduced_cost_fixing_keeps_every_optimal_plan(park: Park) -> None:
    check_fixing_keeps_every_optimal_plan(park)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parks())
def test_reduced_cost_fixing_keeps_every_optimal_plan_with_blends_and_units(park: Park) -> None:
    check_fixing_keeps_every_optimal_plan(park)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_parks(), st.randoms(use_true_random=False))
def test_every_plan_is_worth_its_links_losses_less_than_the_bound(park: Park, rng: Random) -> None:
    """What reduced-cost fixing rests on: every plan of a part is worth at most the bound
    less the losses (``_Duals.losses``) of the links it opens. Checked on random plans
    (links taken in a random order, each with a random share of what supply and demand
    leave) whose links carry any flow, full or not."""
    goal = park.goal()
    found = links(park.open_listings(), goal)
    pruned = prune(found)
    for part in split(found, pruned.kept):
        relaxed = optimiser._relax(found, part, pruned.caps, 10)
        assert relaxed.duals is not None and relaxed.bound is not None
        for _ in range(5):
            supply = {k.offer.listing_id: float(k.offer.quantity) for k in found}
            demand = {k.need.listing_id: float(k.need.quantity) for k in found}
            plan = [0.0] * len(part)
            for p in rng.sample(range(len(part)), len(part)):
                link = found[part[p]]
                if not link.pairwise_quality or rng.random() < 0.3:
                    continue
                most = min(
                    supply[link.offer.listing_id] / link.offer_units_per_unit,
                    demand[link.need.listing_id],
                    pruned.caps[part[p]],
                )
                plan[p] = most * rng.choice([1.0, rng.random()])
                supply[link.offer.listing_id] -= plan[p] * link.offer_units_per_unit
                demand[link.need.listing_id] -= plan[p]
            # a link is open when it carries more than the optimiser's tolerance, as _worth
            # charges its fixed cost (a flow of 1e-9 opens nothing and loses nothing)
            lost = math.fsum(
                float(relaxed.duals.losses[p])
                for p, q in enumerate(plan)
                if q > optimiser.TOLERANCE
            )
            worth = optimiser._worth(found, part, plan)
            assert worth <= relaxed.bound - lost + 1e-6 * max(1.0, abs(relaxed.bound))
