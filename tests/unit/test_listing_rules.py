"""The rules of a listing, without a database: what a change writes or refuses, what a
contract may reserve, what remains, and the status that leaves (``services.listings.rules``).
The end-to-end tests of listings and of trades that hold run the same rules through the API,
Kafka and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.listings.rules import (
    changes_to,
    in_listing_unit,
    refusal,
    remaining_after,
    status_after_releasing,
    status_after_reserving,
)
from services.listings.storage import ListingRow
from shared.events import ContractAgreed, Terms
from shared.refusals import Refusal

TODAY = date(2027, 1, 4)
AGREED = datetime(2027, 1, 4, 9, tzinfo=UTC)


def listing(**changes: object) -> ListingRow:
    row = ListingRow(
        id=uuid.uuid4(),
        company_id=uuid.uuid4(),
        kind="offer",
        ewc_code="100102",
        resource_class=None,
        hazardous=False,
        title="Fly ash",
        description="",
        quantity=Decimal(100),
        remaining_quantity=Decimal(100),
        unit="t",
        frequency="once",
        available_from=date(2027, 1, 1),
        available_until=None,
        quality=[],
        plot=None,
        latitude=None,
        longitude=None,
        transport="either",
        price_per_unit_ore=None,
        internal_note="",
        status="open",
        created_at=AGREED,
        published_at=AGREED,
        updated_at=AGREED,
        accepts=[],
        use=None,
        transport_mode=None,
        max_distance_km=None,
    )
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


def contract(quantity: str, unit: str = "t", terms: Terms | None = None) -> ContractAgreed:
    return ContractAgreed(
        contract_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=uuid.uuid4(),
        receiver_company_id=uuid.uuid4(),
        quantity=Decimal(quantity),
        unit=unit,
        agreed_at=AGREED,
        terms=terms,
    )


def test_a_contract_within_what_remains_is_taken() -> None:
    assert refusal(contract("60"), listing(), Decimal(60), taken={}) is None


def test_a_contract_for_more_than_remains_is_refused_with_what_remains() -> None:
    offer = listing()
    taken = {date.min: Decimal(70)}
    why = refusal(contract("40"), offer, Decimal(40), taken)
    assert why is not None and why.message == "the contract needs 40 t, but only 30 remain"
    assert (why.code, why.params) == (
        "listing.too_little",
        {"needed": "40", "free": "30", "unit": "t"},
    )


def test_a_closed_listing_and_a_unit_that_does_not_convert_are_refused() -> None:
    closed = refusal(contract("1"), listing(status="withdrawn"), Decimal(1), {})
    assert closed is not None and closed.message == "the listing is withdrawn"
    assert (closed.code, closed.params) == ("listing.not_open", {"status": "withdrawn"})
    unconvertible = refusal(contract("1", "MWh"), listing(), None, {})
    assert unconvertible is not None
    assert unconvertible.message == "MWh cannot be converted to the listing's unit t"
    assert (unconvertible.code, unconvertible.params) == (
        "listing.unit_mismatch",
        {"unit": "MWh", "listing_unit": "t"},
    )
    assert in_listing_unit(listing(), Decimal(3), "MWh") is None
    assert in_listing_unit(listing(), Decimal(2000), "kg") == Decimal(2)


def test_a_stream_is_reserved_per_period() -> None:
    stream = listing(frequency="monthly", quantity=Decimal(10), remaining_quantity=Decimal(10))
    monthly = Terms(
        quantity=Decimal(8),
        unit="t",
        price_per_unit_ore=0,
        delivery_from=date(2027, 1, 4),
        delivery_until=date(2027, 3, 31),
        schedule="monthly",
    )
    assert refusal(contract("8", terms=monthly), stream, Decimal(8), {}) is None
    first_month = {date(2027, 1, 1): Decimal(9)}
    why = refusal(contract("8", terms=monthly), stream, Decimal(8), first_month)
    assert why is not None and "in the period from 2027-01-01: only 1 remain" in why.message
    assert why.code == "listing.too_little_in_period"
    assert why.params == {"period": "2027-01-01", "free": "1", "unit": "t"}


def test_what_remains_and_the_status_it_leaves() -> None:
    once = listing()
    assert remaining_after(once, {date.min: Decimal(100)}, TODAY) == 0
    assert status_after_reserving(once, Decimal(0)) == "reserved"
    assert status_after_reserving(once, Decimal(1)) == "open"
    # a stream taken in full this period still has the next ones
    stream = listing(frequency="monthly")
    assert status_after_reserving(stream, Decimal(0)) == "open"


def test_giving_back_opens_a_reserved_listing_and_leaves_the_others() -> None:
    assert status_after_releasing(listing(status="reserved")) == "open"
    assert status_after_releasing(listing(status="open")) == "open"
    assert status_after_releasing(listing(status="withdrawn")) == "withdrawn"


def test_a_change_writes_its_columns_and_what_follows_from_them() -> None:
    offer = listing(status="reserved", quantity=Decimal(100), remaining_quantity=Decimal(0))
    changes = changes_to(
        offer,
        {"quantity": Decimal(150), "location": {"plot": "C2", "latitude": 59.2, "longitude": 11}},
        reserved={date.min: Decimal(100)},
        today=TODAY,
    )
    assert changes["remaining_quantity"] == Decimal(50)
    assert changes["quantity_base"] == Decimal(150000)  # kg
    assert changes["status"] == "open"  # reserved in full, and there is more now
    assert (changes["plot"], changes["latitude"], changes["longitude"]) == ("C2", 59.2, 11)
    assert "location" not in changes


def test_a_change_is_refused_at_its_field() -> None:
    offer = listing()
    cases = [
        ({"title": None}, "title", "value.missing"),
        ({"accepts": ["020304"]}, "accepts", "value.invalid"),
        ({"available_until": date(2026, 12, 1)}, "available_until", None),
        ({"quantity": Decimal(10)}, "quantity", "listing.quantity_below_reserved"),
    ]
    for sent, field, code in cases:
        with pytest.raises(Refusal) as refused:
            changes_to(offer, sent, reserved={date.min: Decimal(60)}, today=TODAY)
        assert refused.value.field == field, sent
        if code is not None:
            assert refused.value.code == code, sent
    with pytest.raises(Refusal) as below:
        changes_to(offer, {"quantity": Decimal(10)}, {date.min: Decimal(60)})
    assert below.value.params == {"reserved": "60", "unit": "t"}


def test_a_change_states_only_properties_the_exchange_knows_for_the_resource() -> None:
    """Fly ash (10 01 02, of the class ash) states what any material does and what ash
    does, each in its unit; a property of no resource's is refused at its row, and one the
    listing already had from before properties were chosen may be kept."""
    ash = listing(quality=[{"property": "cadmium_old", "unit": "ppm", "value": 2}])
    known = [
        {"property": "loss_on_ignition", "unit": "%", "max": 5},
        {"property": "moisture", "unit": "%", "value": 12},
    ]
    assert changes_to(ash, {"quality": known}, {}, TODAY)["quality"] == known
    kept = [*known, {"property": "cadmium_old", "unit": "ppm", "value": 1}]
    assert changes_to(ash, {"quality": kept}, {}, TODAY)["quality"] == kept
    cases = [
        ({"property": "temperature_c", "unit": "°C", "value": 40}, "quality.1.property"),
        ({"property": "moisture", "unit": "°C", "value": 12}, "quality.1.unit"),
    ]
    for wrong, field in cases:
        with pytest.raises(Refusal) as refused:
            changes_to(ash, {"quality": [known[0], wrong]}, {}, TODAY)
        assert refused.value.field == field
        assert refused.value.code == (
            "listing.quality_unknown" if field.endswith("property") else "listing.quality_unit"
        )
    with pytest.raises(Refusal) as unknown:
        changes_to(ash, {"quality": [{"property": "dust", "unit": "%", "value": 1}]}, {}, TODAY)
    assert unknown.value.params["property"] == "dust"
    assert "loss_on_ignition" in unknown.value.params["properties"]
    heat = listing(ewc_code=None, resource_class="heat", unit="MWh")
    with pytest.raises(Refusal) as not_heat:
        changes_to(
            heat,
            {
                "quality": [
                    {"property": "temperature_c", "unit": "°C", "value": 40},
                    {"property": "moisture", "unit": "%", "value": 5},
                ]
            },
            {},
            TODAY,
        )
    assert (not_heat.value.code, not_heat.value.field) == (
        "listing.quality_unknown",
        "quality.1.property",
    )
