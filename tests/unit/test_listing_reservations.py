"""The rules of a listing's quantity, without a database: what a contract may reserve, what
remains, and the status that leaves (``services.listings.reservations``). The end-to-end
tests of trades that hold run the same rules through Kafka and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from services.listings.reservations import (
    in_listing_unit,
    refusal,
    remaining_after,
    status_after_releasing,
    status_after_reserving,
)
from services.listings.storage import ListingRow
from shared.events import ContractAgreed, Terms

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
    assert why == "the contract needs 40 t, but only 30 remain"


def test_a_closed_listing_and_a_unit_that_does_not_convert_are_refused() -> None:
    assert refusal(contract("1"), listing(status="withdrawn"), Decimal(1), {}) == (
        "the listing is withdrawn"
    )
    assert refusal(contract("1", "MWh"), listing(), None, {}) == (
        "MWh cannot be converted to the listing's unit t"
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
    assert why is not None and "in the period from 2027-01-01: only 1 remain" in why


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
