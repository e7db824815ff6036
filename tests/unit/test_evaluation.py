"""The evaluation's parks are well formed and what ``make eval`` measures holds: every
documented exchange is found, and no proposal on the fresh held-out parks is one their
authors judged implausible before the first run."""

import json
from pathlib import Path

import pytest

from benchmarks import evaluate

PARKS = sorted(evaluate.CASES.glob("*.json"))


@pytest.mark.parametrize("path", PARKS, ids=[p.stem for p in PARKS])
def test_each_park_is_well_formed(path: Path) -> None:
    case = json.loads(path.read_text())
    assert case["split"] in evaluate.SPLITS
    listings = {item["id"] for item in case["listings"]}
    assert len(listings) == len(case["listings"])
    for exchange in case["exchanges"]:
        assert exchange["source"] in case["sources"], exchange
        assert {exchange["offer"], exchange["need"]} <= listings
    for judged in case.get("plausible", ()):
        assert {judged["offer"], judged["need"]} <= listings and judged["why"]
    evaluate.listings_of(case)  # every code, class, use and NACE code is known


def test_the_fresh_parks_first_run_is_kept() -> None:
    first = (evaluate.CASES / "fresh-first-run.txt").read_text()
    fresh = [json.loads(p.read_text()) for p in PARKS]
    for case in fresh:
        if case["split"] == "fresh":
            assert case["park"][:52] in first


def test_the_blind_parks_first_run_is_kept() -> None:
    """The blind parks' first run is committed as it printed, before anyone reads it to
    change the matcher: every blind park is in it."""
    first = (evaluate.CASES / "blind-first-run.txt").read_text()
    blind = [
        case for case in (json.loads(p.read_text()) for p in PARKS) if case["split"] == "blind"
    ]
    assert blind
    for case in blind:
        assert case["park"][:52] in first


def test_the_blind2_parks_first_run_is_kept() -> None:
    """The blind2 parks' first run is committed as it printed, before anyone reads it to
    change the matcher: every blind2 park is in it."""
    first = (evaluate.CASES / "blind2-first-run.txt").read_text()
    blind2 = [
        case for case in (json.loads(p.read_text()) for p in PARKS) if case["split"] == "blind2"
    ]
    assert blind2
    for case in blind2:
        assert case["park"][:52] in first


@pytest.mark.parametrize("path", PARKS, ids=[p.stem for p in PARKS])
def test_every_documented_exchange_is_proposed(path: Path) -> None:
    result = evaluate.evaluate(path)
    assert result.missed == [], result.missed


def test_no_fresh_proposal_is_one_judged_implausible() -> None:
    for path in PARKS:
        result = evaluate.evaluate(path)
        if result.split == "fresh":
            assert result.correct + result.plausible == result.proposals, result.extra


def test_the_report_prints_every_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main([]) == 0
    text = capsys.readouterr().out
    for split in ("dev", "held_out", "fresh", "blind", "blind2", "all"):
        assert f"total {split}" in text


def test_the_candidate_rules_are_measured_against_todays_proposals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--rules`` prints each candidate rule per split; the first is today's: every pair
    that fits, so its figures are the evaluation's own. A listing's cover never loses its
    best pair."""
    assert evaluate.main(["--rules"]) == 0
    text = capsys.readouterr().out
    assert "Candidate rules" in text and "offer's cover" in text
    results = [evaluate.evaluate(path) for path in PARKS]
    for result in results:
        today = evaluate.RULES["every pair that fits (today)"](result)
        assert today == set(result.made)
        for side in (0, 1):
            kept = evaluate._covering(result, side)
            assert kept <= today
            for pairs in evaluate._ranked(result, side).values():
                assert pairs[0] in kept
