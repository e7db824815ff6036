"""The park-wide optimiser on parks of 100, 1,000 and 5,000 listings: solve time, objective,
and gap to the greedy baseline.

    make bench    (or: .venv/bin/python -m benchmarks.optimiser [--sizes 100,1000,5000]
                   [--time-limit S] [--objective surplus|co2e|mix] [--fixed-cost NOK]
                   [--transport-cost NOK_PER_TKM] [--carbon-price NOK_PER_T] [--seed S])

No database: each park is generated in memory from a fixed seed, with the listing mix of
``benchmarks.matching_index`` (offers and needs over ~200 resources, the knowledge base's
the most common; moisture stated on wood offers and limited on wood needs, so blending
matters; heat by temperature, process water, CO2) but every site within 20 km of
Fredrikstad, about four listings per company. Every link pays the same fixed cost to open
(``--fixed-cost``), so each link has a binary. Build is ``links()`` on its own; solve is
HiGHS's time summed over the parts (``plan.solve_seconds``); total is the wall time around
``optimise()``, which builds the links again, runs the greedy baseline, prunes, splits and
solves every part within ``--time-limit`` (the limit counts from its start), and cpu is
the process's CPU time over the same call (it does not depend on the machine's load, as
the wall time does). The gap is the plan against the sum of the parts' bounds (each the
least of its LP relaxation's, strengthened by flow covers, and its MILP's dual bound).
Peak RSS is the process's high-water mark after the size (``getrusage``; sizes run
smallest first, so each figure is the peak of that size's run or an earlier one's; the
links built for the build time are dropped before ``optimise()`` runs, and those the plans
are checked against are built after it). For
each park the largest parts are listed with their own bound and gap, and the load average
is printed beside each row. The plan and the greedy baseline must both break no limit
(``violations() == []``); the run exits non-zero when one does.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import sys
import time

from benchmarks.matching_index import Generator
from services.matching.optimiser import Goal, links, optimise, violations

FREDRIKSTAD = (59.21, 10.94)
PARTS_SHOWN = 5
PARK_KM = 20.0


def park_site(rng: random.Random) -> tuple[float, float]:
    """A site anywhere within ``PARK_KM`` of Fredrikstad."""
    distance = PARK_KM * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    lat = FREDRIKSTAD[0] + distance * math.sin(bearing) / 111.2
    lon = FREDRIKSTAD[1] + distance * math.cos(bearing) / (
        111.2 * math.cos(math.radians(FREDRIKSTAD[0]))
    )
    return round(lat, 5), round(lon, 5)


def amount(value: float) -> str:
    return f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="listings per park")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--objective", choices=("surplus", "co2e", "mix"), default="surplus")
    parser.add_argument("--fixed-cost", type=float, default=1000.0, help="NOK to open a link")
    parser.add_argument("--transport-cost", type=float, default=None, help="NOK per t·km")
    parser.add_argument("--carbon-price", type=float, default=0.0, help="NOK per t CO2e")
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    goal = Goal(
        objective=args.objective,
        carbon_price_nok_per_t=args.carbon_price,
        transport_cost_nok_per_tkm=args.transport_cost,
        link_fixed_cost_nok=args.fixed_cost,
        time_limit_seconds=args.time_limit,
    )
    unit = "kg CO2e" if args.objective == "co2e" else "NOK"
    print(
        f"objective {args.objective} ({unit}), fixed cost {args.fixed_cost:,.0f} NOK per link"
        f"{' (not counted for co2e)' if args.objective == 'co2e' else ''}, "
        f"transport {'not costed' if args.transport_cost is None else args.transport_cost}"
        f"{'' if args.transport_cost is None else ' NOK/tkm'}, "
        f"time limit {args.time_limit:g} s, seed {args.seed}\n"
    )
    header = (
        f"{'listings':>8} {'links':>8} {'pruned':>8} {'parts':>5} {'binaries':>8} "
        f"{'build s':>8} {'solve s':>8} {'total s':>8} {'cpu s':>7} {'peak MB':>7} "
        f"{'status':>10} {'gap':>7} {'objective':>12} {'greedy':>12} "
        f"{'improvement':>12} {'%':>6} {'CO2e t':>9} {'greedy t':>9} {'load':>5}"
    )
    print(header)
    failures: list[str] = []
    notes: list[str] = []
    parts: list[str] = []
    for size in (int(s) for s in args.sizes.split(",")):
        rng = random.Random(args.seed * 1_000_003 + size)
        generator = Generator(rng, max(3, size // 4), park_site)
        listings = [generator.listing() for _ in range(size)]
        started = time.perf_counter()
        built = len(links(listings, goal))  # not kept: the peak is optimise()'s own
        build = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        plan = optimise(listings, goal)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        found = links(listings, goal)  # again, to check the plans against
        assert plan.links == len(found) == built
        for name, result in (("plan", plan.best), ("greedy", plan.greedy)):
            broken = violations(found, result)
            if broken:
                failures.append(f"{size} listings, {name}: {len(broken)} violations: {broken[:5]}")
        notes.extend(f"{size} listings: {note}" for note in plan.notes)
        greedy = plan.greedy.objective
        share = f"{100 * plan.improvement / abs(greedy):.1f}" if greedy else "-"
        gap = "-" if plan.gap is None else f"{100 * plan.gap:.2f}%"
        print(
            f"{size:>8,} {plan.links:>8,} {plan.pruned:>8,} {len(plan.parts):>5,} "
            f"{plan.binaries:>8,} {build:>8.2f} {plan.solve_seconds:>8.2f} {total:>8.2f} "
            f"{cpu:>7.1f} {peak:>7,.0f} {plan.status:>10} {gap:>7} "
            f"{amount(plan.best.objective):>12} {amount(greedy):>12} "
            f"{amount(plan.improvement):>12} {share:>6} "
            f"{plan.best.co2e_net_kg / 1000:>9,.0f} {plan.greedy.co2e_net_kg / 1000:>9,.0f} "
            f"{os.getloadavg()[0]:>5.1f}",
            flush=True,
        )
        parts.extend(
            f"{size:>8,} {rank:>4} {p.offers:>6} {p.needs:>5} {p.links:>7,} {p.status:>10} "
            f"{p.solve_seconds:>7.2f} {'-' if p.gap is None else f'{100 * p.gap:.3f}%':>7} "
            f"{amount(p.objective):>12} {amount(p.greedy):>12} "
            f"{'-' if p.bound is None else amount(p.bound):>12} "
            f"{'-' if p.bound is None else amount(p.bound - p.objective):>9}"
            for rank, p in sorted(
                enumerate(plan.parts, start=1),
                key=lambda item: (
                    -math.inf if item[1].bound is None else -(item[1].bound - item[1].objective)
                ),
            )[:PARTS_SHOWN]
        )
    print(
        f"\nthe {PARTS_SHOWN} parts of each park farthest from their bound (part: its rank "
        "by links, 1 the largest):\n"
        f"{'listings':>8} {'part':>4} {'offers':>6} {'needs':>5} {'links':>7} {'status':>10} "
        f"{'solve s':>7} {'gap':>7} {'objective':>12} {'greedy':>12} {'bound':>12} "
        f"{'bound-obj':>9}"
    )
    for line in parts:
        print(line)
    print(
        "\nbuild: links() alone; solve: HiGHS; total: optimise(), which builds the links "
        "again, runs greedy, prunes, splits and solves the parts; cpu: its CPU time; peak: "
        "the process's peak RSS; pruned: links left out of the model; gap: the plan against "
        "the sum of the parts' bounds; improvement: plan minus greedy, and in % of greedy; "
        "CO2e: net of road transport, t; load: the 1-minute load average after the row"
    )
    for note in notes:
        print(f"note: {note}")
    if failures:
        print("\nFAILED: a plan breaks a limit", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        sys.exit(1)
    print("no violations in any plan or greedy baseline")


if __name__ == "__main__":
    main()
