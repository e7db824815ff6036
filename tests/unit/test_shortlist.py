"""The matcher's shortlist (the best proposals among counterparts read best bound first) and
the terms the index bounds a pair's worth by: pure domain rules, no database."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

from services.matching.domain import (
    Bound,
    OpenListing,
    Shortlist,
    best_proposals,
    propose,
    rank_key,
    terms_of,
)


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
