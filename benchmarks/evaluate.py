"""The team's evaluation of matching and uncovering on documented industrial symbioses.

Each file in ``benchmarks/eval/`` is a park from the literature: its companies (with NACE
codes and real places), their listings written the way such a company would write them,
distractor companies that trade nothing documented, and the documented exchanges, each with
its source. ``make eval`` runs every park through the matcher's rules (every offer against
every need of the park, as the indexed matcher would; tests/integration/test_matcher_index.py
holds the two to the same answer) and through uncovering, and prints:

- recall: documented exchanges the matcher proposes / documented exchanges;
- precision: proposals that are documented exchanges / all proposals (a plausible but
  undocumented proposal counts against it; each one is listed so a reader can judge it);
- judged precision: as precision, but also counting the undocumented proposals the park's
  file judges plausible, each with its reason (printed), as correct;
- uncovering: documented exchanges whose real receiver's NACE class is among the five
  activities suggested for the supplier's by-product. The knowledge base's precedents
  (``shared/data/precedents.csv``) hold these parks' documented exchanges; a park's own
  (those with its sources) are left out when its uncovering is measured.

``--rules`` also prints what candidate rules for proposing fewer pairs per listing would
do to recall and precision (a listing's cover: its counterparts, best first by the
matcher's ranking, until they take or cover all of it; the best one or two of each
listing), and the documented exchanges each would lose. None is applied by the matcher.

The ``dev`` parks were used while writing the knowledge base. The ``held_out`` parks were
written before their first run (``eval/held-out-first-run.txt``) and later read to find the
matcher's faults, so they are seen now. The ``fresh`` parks were written, with their
plausibility judgements, after that and before their first run
(``eval/fresh-first-run.txt``); that run has since been read. The ``blind`` parks were
written, with their plausibility judgements, after the fresh parks' run was read, by someone
who read neither the knowledge base nor the matcher's rules, and before their own first run
(``eval/blind-first-run.txt``); they are not to be tuned on. The ``blind2`` parks were
written the same way, with their plausibility judgements, after the blind parks' first run
had been read, by someone who read neither the knowledge base nor the matcher's rules nor
any evaluation output, and before their own first run (``eval/blind2-first-run.txt``); they
are not to be tuned on either. All five are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.matching.domain import OpenListing, Proposal, propose, quantity_of, rank_key
from shared import knowledge, uncovering
from shared.ewc import lookup
from shared.resources import RESOURCE_CLASSES

CASES = Path(__file__).parent / "eval"
# The sets, in the order they were written (the module docstring says what each one is).
SPLITS = ("dev", "held_out", "fresh", "blind", "blind2")
NAMESPACE = uuid.UUID("5c1a3f0e-3b8e-4d51-9a55-1b7a0c2d9e42")


@dataclass
class Result:
    park: str
    split: str
    documented: int = 0
    found: int = 0
    proposals: int = 0
    correct: int = 0
    plausible: int = 0
    uncovered: int = 0
    missed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    not_uncovered: list[str] = field(default_factory=list)
    # (offer, need) -> proposal, and the documented pairs: for ``--rules``
    made: dict[tuple[str, str], Proposal] = field(default_factory=dict)
    exchanges: set[tuple[str, str]] = field(default_factory=set)


def _resource(text: str) -> tuple[str | None, str | None]:
    if text.startswith("class:"):
        name = text.removeprefix("class:")
        if name not in RESOURCE_CLASSES:
            raise SystemExit(f"unknown class {text}")
        return None, name
    return lookup(text).code, None


def listings_of(case: dict[str, Any]) -> dict[str, OpenListing]:
    companies = {c["id"]: c for c in case["companies"]}
    for company in case["companies"]:
        for code in company["nace"]:
            if code not in knowledge.nace():
                raise SystemExit(f"{case['park']}: {code} is not in the NACE list")
    found = {}
    for item in case["listings"]:
        company = companies[item["company"]]
        code = resource_class = None
        if "resource" in item:
            code, resource_class = _resource(item["resource"])
        use = item.get("use")
        if use is not None and use not in knowledge.use_names():
            raise SystemExit(f"{item['id']}: unknown use {use}")
        found[item["id"]] = OpenListing(
            listing_id=uuid.uuid5(NAMESPACE, f"{case['park']}/{item['id']}"),
            company_id=uuid.uuid5(NAMESPACE, f"{case['park']}/{company['id']}"),
            kind=item["kind"],
            ewc_code=code,
            resource_class=resource_class,
            title=item["title"],
            quantity=Decimal(str(item["quantity"])),
            unit=item["unit"],
            quality=tuple(item.get("quality", ())),
            latitude=company["latitude"],
            longitude=company["longitude"],
            accepts=tuple(
                code or f"class:{name}"
                for code, name in (_resource(a) for a in item.get("accepts", ()))
            ),
            use=use,
            transport_mode=item.get("transport_mode"),
            max_distance_km=item.get("max_distance_km"),
        )
    return found


def evaluate(path: Path) -> Result:
    case = json.loads(path.read_text())
    listings = listings_of(case)
    offers = [(n, x) for n, x in listings.items() if x.kind == "offer"]
    needs = [(n, x) for n, x in listings.items() if x.kind == "need"]
    proposals: dict[tuple[str, str], Proposal] = {}
    for offer_name, offer in offers:
        for need_name, need in needs:
            made = propose(offer, need)
            if made is not None:
                proposals[(offer_name, need_name)] = made
    documented = {(e["offer"], e["need"]) for e in case["exchanges"]}
    for offer_name, need_name in documented:
        if offer_name not in listings or need_name not in listings:
            raise SystemExit(f"{path.name}: exchange names an unknown listing")
    result = Result(case["park"], case["split"], documented=len(documented))
    result.made = proposals
    result.exchanges = documented
    result.proposals = len(proposals)
    result.found = len(documented & proposals.keys())
    result.correct = result.found
    result.missed = sorted(f"{o} → {n}" for o, n in documented - proposals.keys())
    judged = {(p["offer"], p["need"]): p["why"] for p in case.get("plausible", ())}
    for (offer_name, need_name), made in sorted(proposals.items()):
        if (offer_name, need_name) not in documented:
            rule = made.details[0]
            why = judged.get((offer_name, need_name))
            if why is not None:
                result.plausible += 1
            result.extra.append(
                f"{offer_name} → {need_name} ({rule.code} {rule.params.get('use') or ''})"
                + (f": judged plausible, {why}" if why else ": not judged plausible")
            )
    companies = {c["id"]: c for c in case["companies"]}
    items = {item["id"]: item for item in case["listings"]}
    for offer_name, need_name in sorted(documented):
        offer = listings[offer_name]
        receiver = companies[items[need_name]["company"]]
        own = set(case["sources"].values())  # this park's precedents are not evidence here
        suggested = {a.nace for a in uncovering.receivers(offer.resource, leave_out=own)}
        if suggested & set(receiver["nace"]):
            result.uncovered += 1
        else:
            result.not_uncovered.append(
                f"{offer_name} ({offer.resource}) → {receiver['name']} {receiver['nace']}: "
                f"suggested {sorted(suggested)}"
            )
    return result


def _ranked(result: Result, side: int) -> dict[str, list[tuple[str, str]]]:
    """Each listing's pairs on ``side`` (0: offers, 1: needs), best first by the matcher's
    ranking (``rank_key``)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for pair in result.made:
        found.setdefault(pair[side], []).append(pair)
    for pairs in found.values():
        pairs.sort(
            key=lambda pair: rank_key(
                result.made[pair].value,
                (result.made[pair].need if side == 0 else result.made[pair].offer).listing_id,
                result.made[pair].quantity,
                result.made[pair].unit,
            )
        )
    return found


def _share(made: Proposal, side: int) -> Decimal:
    """The share of the listing on ``side`` that the pair moves."""
    if side == 1:
        return made.quantity / made.need.quantity
    whole = quantity_of(made.offer, made.unit)
    assert whole is not None
    return made.quantity / whole


def _rate(made: Proposal) -> tuple[float, float | None]:
    """What a pair is worth per unit before its transport: money and CO2e a unit."""
    value = made.value
    money = float(value.price_gap_ore_per_unit or 0)
    kg = value.co2e_avoided_kg
    return money, None if kg is None else round(kg / float(made.quantity), 6)


def _covering(result: Result, side: int) -> set[tuple[str, str]]:
    """The pairs each listing on ``side`` would keep if it were proposed only to the
    counterparts, best first, that together take (or cover) all of it, and to any later
    one worth as much per unit as the last of those (they differ only by haulage)."""
    kept: set[tuple[str, str]] = set()
    for pairs in _ranked(result, side).values():
        covered, last = Decimal(0), None
        for pair in pairs:
            made = result.made[pair]
            if covered >= 1 and _rate(made) != last:
                continue
            kept.add(pair)
            covered += _share(made, side)
            last = _rate(made) if covered >= 1 and last is None else last
    return kept


def _top(result: Result, limit: int) -> set[tuple[str, str]]:
    """The pairs among the best ``limit`` of their offer or of their need (the matcher
    proposes a listing's best when it opens, whichever of the two opens last)."""
    kept: set[tuple[str, str]] = set()
    for side in (0, 1):
        for pairs in _ranked(result, side).values():
            kept.update(pairs[:limit])
    return kept


RULES: dict[str, Callable[[Result], set[tuple[str, str]]]] = {
    "every pair that fits (today)": lambda r: set(r.made),
    "offer's cover": lambda r: _covering(r, 0),
    "need's cover": lambda r: _covering(r, 1),
    "both covers": lambda r: _covering(r, 0) & _covering(r, 1),
    "either cover": lambda r: _covering(r, 0) | _covering(r, 1),
    "best 1 of offer or need": lambda r: _top(r, 1),
    "best 2 of offer or need": lambda r: _top(r, 2),
}


def rule_report(results: list[Result]) -> list[str]:
    """What each candidate rule for proposing fewer pairs per listing would do: recall and
    precision per split, and the documented exchanges it would lose."""
    lines = [
        f"{'rule':<30} {'split':<9} {'found':>6} {'proposals':>9} {'recall':>8} {'precision':>9}"
    ]
    lost: list[str] = []
    for name, rule in RULES.items():
        for split in SPLITS:
            chosen = [r for r in results if r.split == split]
            documented = sum(r.documented for r in chosen)
            kept = [(r, rule(r)) for r in chosen]
            found = sum(len(r.exchanges & pairs) for r, pairs in kept)
            proposals = sum(len(pairs) for _, pairs in kept)
            lines.append(
                f"{name:<30} {split:<9} {found:>6} {proposals:>9} "
                f"{ratio(found, documented):>8} {ratio(found, proposals):>9}"
            )
            lost.extend(
                f"  {name} loses {o} → {n} ({r.park[:40]})"
                for r, pairs in kept
                for o, n in sorted(r.exchanges - pairs)
            )
    return lines + lost


def ratio(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100 * part / whole:5.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--details", action="store_true", help="list misses and extras")
    parser.add_argument(
        "--rules",
        action="store_true",
        help="also print what candidate rules for proposing fewer pairs per listing would do",
    )
    parser.add_argument(
        "--split",
        choices=(*SPLITS, "all"),
        default="all",
        help="which parks to run",
    )
    args = parser.parse_args(argv)
    paths = [
        path
        for path in sorted(CASES.glob("*.json"))
        if args.split == "all" or json.loads(path.read_text())["split"] == args.split
    ]
    results = [evaluate(path) for path in paths]
    print(
        f"{'park':<52} {'split':<9} {'documented':>10} {'found':>6} {'proposals':>9} "
        f"{'recall':>8} {'precision':>9} {'judged':>8} {'uncovered':>9}"
    )
    for r in results:
        print(
            f"{r.park[:52]:<52} {r.split:<9} {r.documented:>10} {r.found:>6} {r.proposals:>9} "
            f"{ratio(r.found, r.documented):>8} {ratio(r.correct, r.proposals):>9} "
            f"{ratio(r.correct + r.plausible, r.proposals):>8} "
            f"{ratio(r.uncovered, r.documented):>9}"
        )
    for split in (*SPLITS, "all"):
        chosen = [r for r in results if split == "all" or r.split == split]
        documented = sum(r.documented for r in chosen)
        found = sum(r.found for r in chosen)
        proposals = sum(r.proposals for r in chosen)
        plausible = sum(r.plausible for r in chosen)
        uncovered = sum(r.uncovered for r in chosen)
        print(
            f"{'total ' + split:<52} {'':<9} {documented:>10} {found:>6} {proposals:>9} "
            f"{ratio(found, documented):>8} {ratio(found, proposals):>9} "
            f"{ratio(found + plausible, proposals):>8} {ratio(uncovered, documented):>9}"
        )
    for r in results:
        if args.details or r.missed or r.extra:
            print(f"\n{r.park} ({r.split})")
            for line in r.missed:
                print(f"  missed:        {line}")
            for line in r.extra:
                print(f"  undocumented:  {line}")
            if args.details:
                for line in r.not_uncovered:
                    print(f"  not uncovered: {line}")
    if args.rules:
        print("\nCandidate rules for proposing fewer pairs per listing (not applied):")
        print("\n".join(rule_report(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
