"""A listing's terms are declared once (``shared.events.ListingTerms``) and every mapping
takes them by name: from the API's draft to the listing's row, from the row to its event and
its answer, from the event to the matcher's open listing and its table. A term that one of
them dropped would fail here, not silently in the matcher."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any

from services.listings import api
from services.listings.rules import facts
from services.listings.storage import ListingRow
from services.matching import storage as matching_storage
from services.matching.domain import OpenListing
from shared.events import TERMS, ListingPublished, ListingTerms
from tests.unit.test_listing_rules import listing

# A value for each term that no default has, so a term lost on the way is seen.
GIVEN: dict[str, Any] = {
    "accepts": ["020304", "class:food_residue"],
    "use": "animal_feed",
    "transport_mode": "rail",
    "max_distance_km": 170.0,
}


def row(**terms: Any) -> ListingRow:
    """A need for 40 t of whey, open, with ``terms``."""
    return listing(
        kind="need",
        ewc_code="020301",
        title="Whey for feed",
        plot="B2",
        latitude=59.2,
        longitude=10.9,
        quantity=Decimal(40),
        remaining_quantity=Decimal(40),
        **terms,
    )


def test_the_example_covers_every_term() -> None:
    assert set(GIVEN) == set(TERMS)


def test_every_model_of_a_listing_has_every_term() -> None:
    for model in (ListingRow, OpenListing):
        names = {f.name for f in fields(model)}
        assert set(TERMS) <= names, (model.__name__, set(TERMS) - names)
    for pydantic_model in (api.ListingDraft, api.Listing, ListingPublished):
        assert issubclass(pydantic_model, ListingTerms), pydantic_model
    assert set(TERMS) <= set(matching_storage._FIELDS)


def test_a_term_goes_from_the_row_to_the_event_the_answer_and_the_matcher() -> None:
    listing = row(**GIVEN)
    event = ListingPublished(**facts(listing, False), published_at=listing.published_at)
    answer = api.Listing.of(listing, viewer=None)
    opened = OpenListing.of(event)
    for name, value in GIVEN.items():
        assert getattr(event, name) == value, name
        assert getattr(answer, name) == value, name
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(opened, name) == expected, name
    assert opened.listing_id == listing.id and opened.quantity == Decimal(40)


def test_a_term_stated_in_the_draft_is_read_back_by_its_name() -> None:
    draft = api.ListingDraft(
        kind="need", title="Whey for feed", quantity=Decimal(40), unit="t", **GIVEN
    )
    assert {name: getattr(draft, name) for name in TERMS} == GIVEN
