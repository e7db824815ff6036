"""The matcher's shortlist (the best proposals among counterparts read best bound first) and
the terms the index bounds a pair's worth by: pure domain rules, no database."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

from services.matching.domain import (
    NOMINAL_RATE,
    Bound,
    OpenListing,
    Shortlist,
    best_proposals,
    propose,
    rank_key,
    ranking_co2e,
    terms_of,
    unestimated_rate,
)
from shared.events import ProposalValue


def listing(
    kind: str, quantity: str = "10", unit: str = "t", price: int | None = None
) -> OpenListing:
    return OpenListing(
        uuid.uuid4(),
        uuid.uuid4(),
        kind,
        "030105",
        None,
        "Sawdust",
        Decimal(quantity),
        unit,
        price_per_unit_ore=price,
    )


def test_the_shortlist_keeps_the_best_whatever_order_its_candidates_come_in() -> None:
    need = listing("need", "8", price=90_000)
    offers = [listing("offer", str(q), price=p) for q in (2, 5, 9) for p in (10_000, 40_000)]
    expected = best_proposals(need, offers, 3)
    assert len(expected) == 3
    for seed in range(5):
        shuffled = random.Random(seed).sample(offers, len(offers))
        found = Shortlist(need, 3)
        found.add(shuffled[:2])
        found.add(shuffled[2:])
        assert found.best() == expected
        assert found.read == len(offers)


def test_the_shortlist_is_settled_only_when_the_next_bound_cannot_make_the_cut() -> None:
    need = listing("need", "8", price=90_000)
    cheap = listing("offer", "8", price=10_000)  # 80 NOK a tonne to share, 8 t
    found = Shortlist(need, 1)
    assert not found.settled(Bound(0, 0, 0), uuid.UUID(int=0))  # nothing kept yet
    found.add([cheap])
    proposal = propose(need, cheap)
    assert proposal is not None
    best = rank_key(proposal.value, cheap.listing_id)
    money = -best[0]
    # a counterpart that could still share more, or as much and save more CO2e, is read
    assert not found.settled(Bound(money + 1, 0, 0), uuid.UUID(int=0))
    assert not found.settled(Bound(money, -best[1] + 1, 0), uuid.UUID(int=0))
    # one that cannot share as much is not
    assert found.settled(Bound(money - 1, 10**9, 0), uuid.UUID(int=0))
    # a tie on every value goes by listing id, as the index reads them
    assert found.settled(Bound(money, -best[1], best[2]), cheap.listing_id)
    assert not found.settled(Bound(money, -best[1], best[2]), uuid.UUID(int=0))


def test_no_proposals_wanted_is_settled_at_once() -> None:
    assert Shortlist(listing("need"), 0).settled(Bound(1e9, 1e9, 0), uuid.UUID(int=0))


def test_terms_are_in_the_base_unit_of_the_dimension() -> None:
    offer = listing("offer", "2", "t", price=150_000)  # 1,500 NOK a tonne
    terms = terms_of(offer)
    assert (terms.dimension, terms.amount, terms.price_ore) == ("mass", 2000.0, 150.0)
    need = listing("need", "500", "kg")
    assert (terms_of(need).amount, terms_of(need).price_ore) == (500.0, None)


def feed_offer(code: str, tonnes: int, latitude: float) -> OpenListing:
    return OpenListing(
        uuid.uuid4(),
        uuid.uuid4(),
        "offer",
        code,
        None,
        code,
        Decimal(tonnes),
        "t",
        latitude=latitude,
        longitude=16.0,
    )


def test_a_pair_whose_co2e_is_not_estimated_ranks_by_what_it_moves_not_as_zero() -> None:
    """5,000 t of whey (only its disposal route has a factor) ranked above 150,000 t of
    distillers' grains (no factor at all) for the same feed need, and nearer: a pair not
    estimated counted as saving nothing. It now counts as moving its tonnes at the least
    rate any sourced row gives a tonne, less its haulage."""
    need = OpenListing(
        uuid.uuid4(),
        uuid.uuid4(),
        "need",
        None,
        None,
        "Protein feed",
        Decimal(150_000),
        "t",
        use="animal_feed",
        latitude=58.5,
        longitude=16.0,
    )
    whey = feed_offer("020501", 5_000, 58.51)
    grains = feed_offer("020702", 150_000, 58.6)
    made = {p.offer.title: p for p in (propose(whey, need), propose(grains, need)) if p}
    assert made["020702"].value.co2e_avoided_kg is None  # still said: not estimated
    assert made["020501"].value.co2e_avoided_kg is not None
    best = best_proposals(need, [whey, grains], 2)
    assert [p.offer.title for p in best] == ["020702", "020501"]
    assert [p.offer.title for p in best_proposals(need, [whey, grains], 1)] == ["020702"]


def test_the_rate_a_pair_not_estimated_ranks_by_is_the_least_sourced_rate_of_its_dimension() -> (
    None
):
    mass = unestimated_rate("mass")
    assert 0.004 < mass < 0.005  # kg a kg: the energy-recovery counterfactual alone
    assert unestimated_rate("energy") == NOMINAL_RATE  # no energy row estimates above 0
    assert ranking_co2e(Decimal(2), "t", 1.5) == round(2000 * mass - 1.5, 2)
    # the index's bound for such an offer counts the same rate, so it is never below
    grains = feed_offer("020702", 10, 58.6)
    assert terms_of(grains).co2e_any == mass


def test_an_estimated_saving_is_still_ranked_by_its_estimate() -> None:
    value = ProposalValue(co2e_avoided_kg=10.0, co2e_net_kg=8.0)
    assert rank_key(value, uuid.UUID(int=1), Decimal(1000), "t")[1] == -8.0
    unknown = ProposalValue()
    assert rank_key(unknown, uuid.UUID(int=1))[1] == 0.0  # without a quantity: nothing to go by
