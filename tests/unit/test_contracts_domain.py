"""The contracts service's rules without a database: periods and what a listing still has,
the negotiation state machine, deliveries, invoice amounts, MVA, KID and the fee, and the
declaration of hazardous waste."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from stdnum import luhn

from services.contracts.domain import capacity
from services.contracts.domain.contract import Contract, Delivery
from services.contracts.domain.declaration import Declaration, permit_verified
from services.contracts.domain.invoice import (
    Party,
    amounts,
    bank_account,
    kid,
    valid_kid,
    waiting_for,
)
from services.contracts.domain.negotiation import Negotiation, Terms, both_accepted
from services.contracts.domain.refusals import Refused
from shared import events, periods

NOW = datetime(2027, 3, 10, 12, tzinfo=UTC)
SUPPLIER, RECEIVER, STRANGER = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
D = Decimal


# --- Periods --------------------------------------------------------------------------------


def test_a_one_off_listing_has_one_period() -> None:
    assert periods.shares(
        "once", D(400), "monthly", date(2027, 1, 1), date(2027, 6, 30), NOW.date()
    ) == {periods.ONCE: D(400)}


def test_a_stream_contract_spreads_its_total_over_the_months_it_delivers_in() -> None:
    taken = periods.shares(
        "monthly", D(600), "monthly", date(2027, 1, 1), date(2027, 6, 30), NOW.date()
    )
    assert list(taken) == [date(2027, m, 1) for m in range(1, 7)]
    assert sum(taken.values()) == D(600)
    assert set(taken.values()) == {D(100)}
    # on another rhythm (weekly parts from a monthly listing), by days
    weekly = periods.shares(
        "monthly", D(181), "weekly", date(2027, 1, 1), date(2027, 6, 30), NOW.date()
    )
    assert weekly[date(2027, 1, 1)] == D(31) and weekly[date(2027, 2, 1)] == D(28)


def test_a_one_off_contract_takes_its_whole_quantity_from_the_period_of_its_first_day() -> None:
    assert periods.shares("weekly", D(40), "once", date(2027, 3, 10), None, NOW.date()) == {
        date(2027, 3, 8): D(40)
    }
    assert periods.shares("monthly", D(40), "once", None, None, NOW.date()) == {
        date(2027, 3, 1): D(40)
    }


def test_largest_fitting_is_what_every_period_still_has() -> None:
    taken = {date(2027, m, 1): D(100) for m in range(1, 7)}  # Jan-Jun hold 100 a month
    # a stream for Apr-Sep at 350/month: Apr-Jun have only 250 left, so 250/month fits
    asked = D(350) * 6
    best = periods.largest_fitting(
        D(350), taken, "monthly", asked, "monthly", date(2027, 4, 1), date(2027, 9, 30), NOW.date()
    )
    share = periods.shares(
        "monthly", best, "monthly", date(2027, 4, 1), date(2027, 9, 30), NOW.date()
    )
    assert not periods.overbooked(D(350), taken, share)
    assert best == D(1500)  # 250 a month for six months
    assert periods.largest_fitting(
        D(350), taken, "monthly", D(200), "monthly", date(2027, 7, 1), date(2027, 7, 31), NOW.date()
    ) == D(200)


def test_remaining_of_a_stream_counts_only_the_coming_periods() -> None:
    taken = {date(2027, 1, 1): D(350), date(2027, 4, 1): D(100)}
    assert periods.remaining(D(350), taken, "monthly", date(2027, 3, 5)) == D(250)
    assert periods.remaining(D(350), taken, "monthly", date(2027, 5, 5)) == D(350)
    assert periods.remaining(D(520), {periods.ONCE: D(400)}, "once", date(2027, 5, 5)) == D(120)


# --- What a listing still has (the over-commit rule) -------------------------------------


def listing(
    quantity: str = "520", frequency: str = "once", status: str = "open"
) -> capacity.Listing:
    return capacity.Listing(
        uuid.uuid4(),
        SUPPLIER,
        "offer",
        "Sawdust",
        D(quantity),
        "t",
        frequency,
        status,
        "030105",
        False,
        NOW,
    )


def hold(quantity: str, unit: str = "t", schedule: str = "once", **window: date) -> capacity.Hold:
    return capacity.Hold(
        uuid.uuid4(),
        D(quantity),
        unit,
        schedule,
        window.get("start"),
        window.get("end"),
        NOW.date(),
    )


def ask(quantity: str, unit: str = "t", schedule: str = "once", **window: date) -> capacity.Ask:
    return capacity.Ask(D(quantity), unit, schedule, window.get("start"), window.get("end"))


def test_a_second_proposal_for_the_whole_offer_fits_only_what_the_first_contract_left() -> None:
    offer = listing("520")
    assert capacity.fitting(offer, [hold("400")], ask("520"), NOW.date()) == D(120)
    assert capacity.fitting(offer, [hold("400")], ask("100"), NOW.date()) == D(100)
    assert capacity.fitting(offer, [hold("400"), hold("120")], ask("10"), NOW.date()) == 0
    # units convert: 120 t is 120 000 kg
    assert capacity.fitting(offer, [hold("400000", "kg")], ask("200000", "kg"), NOW.date()) == D(
        120000
    )


def test_a_withdrawn_listing_gives_nothing() -> None:
    assert capacity.fitting(listing(status="withdrawn"), [], ask("1"), NOW.date()) == 0


def test_streams_reserve_per_period_not_the_whole_quantity_at_once() -> None:
    heat = listing("350", "monthly")
    first_half = hold("600", schedule="monthly", start=date(2027, 1, 1), end=date(2027, 6, 30))
    # the second half of the year is free: a full 350/month stream for it fits whole
    second = ask("2100", schedule="monthly", start=date(2027, 7, 1), end=date(2027, 12, 31))
    assert capacity.fitting(heat, [first_half], second, NOW.date()) == D(2100)
    # March to June have 250 left each
    overlapping = ask("1200", schedule="monthly", start=date(2027, 3, 1), end=date(2027, 6, 30))
    assert capacity.fitting(heat, [first_half], overlapping, NOW.date()) == D(1000)


def test_nothing_useful_is_less_than_a_hundredth_of_what_was_asked() -> None:
    assert capacity.useful(D(120), D(520))
    assert not capacity.useful(D(5), D(520))
    assert not capacity.useful(D(0), D(520))


# --- The negotiation state machine -----------------------------------------------------------


def negotiation(status: str = "open", expires: datetime | None = None) -> Negotiation:
    return Negotiation(
        id=uuid.uuid4(),
        supplier_company_id=SUPPLIER,
        receiver_company_id=RECEIVER,
        status=status,
        created_at=NOW,
        updated_at=NOW,
        expires_at=expires or NOW + timedelta(days=14),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        title="Sawdust",
        ewc_code="030105",
        resource_class=None,
        reasons=[],
        value=None,
        origin="matcher",
        proposal_unit="t",
    )


def terms(price: int | None = 15000, **changes: Any) -> Terms:
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "negotiation_id": uuid.uuid4(),
        "version": 1,
        "proposed_by": "exchange",
        "quantity": D(520),
        "unit": "t",
        "price_per_unit_ore": price,
        "delivery_from": None,
        "delivery_until": None,
        "transport": "receiver",
        "schedule": "once",
        "supplier_accepted_at": None,
        "receiver_accepted_at": None,
        "status": "open",
        "created_at": NOW,
    }
    return Terms(**{**base, **changes})


def refused(kind: str, call: Any, *args: Any) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args)
    assert caught.value.kind == kind, caught.value.detail
    return caught.value


def test_each_side_accepts_the_terms_on_the_table_once() -> None:
    n, on_table = negotiation(), terms()
    assert n.accept(SUPPLIER, on_table, on_table.id, NOW) == "supplier"
    accepted = terms(id=on_table.id, supplier_accepted_at=NOW)
    assert (
        refused("conflict", n.accept, SUPPLIER, accepted, accepted.id, NOW).title
        == "Already accepted"
    )
    assert n.accept(RECEIVER, accepted, accepted.id, NOW) == "receiver"
    assert both_accepted(terms(supplier_accepted_at=NOW, receiver_accepted_at=NOW))


def test_stale_unpriced_foreign_and_late_acceptances_are_refused() -> None:
    n, on_table = negotiation(), terms()
    stale = refused("conflict", n.accept, SUPPLIER, on_table, uuid.uuid4(), NOW)
    assert stale.field == "terms_id" and "no longer on the table" in stale.detail
    cut = terms(version=3, quantity=D(120))
    assert (
        "cut them to 120 t"
        in refused("conflict", n.accept, SUPPLIER, cut, uuid.uuid4(), NOW).detail
    )
    unpriced = terms(price=None)
    assert (
        refused("conflict", n.accept, SUPPLIER, unpriced, unpriced.id, NOW).title == "No price yet"
    )
    refused("not_found", n.accept, STRANGER, on_table, on_table.id, NOW)
    late = negotiation(expires=NOW - timedelta(minutes=1))
    assert refused("conflict", late.accept, SUPPLIER, on_table, on_table.id, NOW).title == "Expired"
    assert "declined" in refused("conflict", negotiation("declined").decline, SUPPLIER, NOW).detail


def test_a_counter_measures_what_the_proposal_does_and_a_stream_names_its_window() -> None:
    n = negotiation()
    good = events.Terms(quantity=D(15), unit="kg", price_per_unit_ore=150)
    assert n.counter(RECEIVER, good, NOW) == "receiver"
    energy = events.Terms(quantity=D(15), unit="MWh", price_per_unit_ore=150)
    assert refused("invalid", n.counter, RECEIVER, energy, NOW).field == "unit"
    stream = events.Terms(quantity=D(600), unit="t", price_per_unit_ore=150, schedule="monthly")
    assert refused("invalid", n.counter, RECEIVER, stream, NOW).field == "delivery_until"


# --- Deliveries -------------------------------------------------------------------------------


def contract(status: str = "active", quantity: str = "15", ewc: str | None = "170101") -> Contract:
    return Contract(
        id=uuid.uuid4(),
        negotiation_id=uuid.uuid4(),
        terms_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=SUPPLIER,
        receiver_company_id=RECEIVER,
        title="Crushed concrete",
        ewc_code=ewc,
        resource_class=None,
        quantity=D(quantity),
        unit="t",
        price_per_unit_ore=15000,
        delivery_from=None,
        delivery_until=None,
        transport="supplier",
        schedule="once",
        value=None,
        status=status,
        status_reason=None,
        agreed_at=NOW,
        ended_at=None,
    )


def delivery(quantity: str, status: str, unit: str = "t") -> Delivery:
    return Delivery(
        id=uuid.uuid4(),
        contract_id=uuid.uuid4(),
        quantity=D(quantity),
        unit=unit,
        delivered_on=NOW.date(),
        weighbridge_note=None,
        recorded_by=uuid.uuid4(),
        recorded_at=NOW,
        status=status,
        answered_by=None,
        answered_at=None,
        dispute_reason=None,
        carrier=None,
        measurement=None,
        weighbridge_ticket=None,
        declaration=None,
        confirmed_at=None,
    )


def test_the_supplier_records_at_most_what_the_contract_has_left() -> None:
    c, today = contract(), NOW.date()
    done = [
        delivery("10", "confirmed"),
        delivery("4000", "recorded", "kg"),
        delivery("9", "disputed"),
    ]
    assert c.sums(done) == (D(10), D(4))
    assert c.record(SUPPLIER, D("1000"), "kg", today, today, done) == D(1)
    over = refused("conflict", c.record, SUPPLIER, D("1.5"), "t", today, today, done)
    assert "at most 1 t can be recorded" in over.detail and over.field == "quantity"
    assert refused("forbidden", c.record, RECEIVER, D(1), "t", today, today, done)
    refused("not_found", c.record, STRANGER, D(1), "t", today, today, done)
    assert (
        refused("invalid", c.record, SUPPLIER, D(1), "t", today + timedelta(1), today, []).field
        == "delivered_on"
    )
    assert refused("invalid", c.record, SUPPLIER, D(1), "MWh", today, today, []).field == "unit"
    refused("conflict", contract("cancelled").record, SUPPLIER, D(1), "t", today, today, [])


def test_confirmed_deliveries_that_reach_the_quantity_complete_the_contract() -> None:
    c = contract()
    assert not c.completed_by([delivery("10", "confirmed"), delivery("5", "recorded")])
    assert c.completed_by([delivery("10", "confirmed"), delivery("5000", "confirmed", "kg")])
    event = c.completed_event([delivery("10", "confirmed"), delivery("5", "confirmed")], NOW)
    assert (event.delivered_quantity, event.deliveries, event.event_type) == (
        D(15),
        2,
        "contract.completed",
    )
    assert c.undelivered([delivery("4", "confirmed"), delivery("1", "recorded")]) == D(10)


def test_only_the_receiver_answers_and_may_dispute_after_confirming() -> None:
    c = contract()
    delivery("1", "recorded").answer(RECEIVER, c, dispute=False)
    delivery("1", "confirmed").answer(RECEIVER, c, dispute=True)
    assert (
        "cannot answer its own"
        in refused("forbidden", delivery("1", "recorded").answer, SUPPLIER, c, False).detail
    )
    assert (
        refused("conflict", delivery("1", "confirmed").answer, RECEIVER, c, False).title
        == "Already answered"
    )
    refused("conflict", delivery("1", "disputed").answer, RECEIVER, c, True)


# --- Invoices ---------------------------------------------------------------------------------


def test_invoice_amounts_mva_and_the_fee() -> None:
    figures = amounts(D("12.48"), 15000, True, 2.0)
    assert (figures.net, figures.vat, figures.total, figures.fee) == (187200, 46800, 234000, 3744)
    assert figures.vat_percent == 25
    untaxed = amounts(D("12.48"), 15000, False, 2.0)
    assert (untaxed.vat, untaxed.total, untaxed.vat_percent) == (0, 187200, 0)
    # rounded half up to the øre
    assert amounts(D("0.333"), 1001, True, 2.5).net == 333
    assert amounts(D("1"), 2, True, 25).fee == 1  # 0.5 øre rounds up


def test_the_kid_is_the_number_with_a_mod10_check_digit() -> None:
    assert kid(7) == "00000075"
    assert luhn.is_valid(kid(123456)) and valid_kid(kid(123456))
    assert not valid_kid("00000076") and not valid_kid("x1")


def test_bank_accounts_are_checked_with_mod11() -> None:
    assert bank_account("8601 11 17947") == "86011117947"
    with pytest.raises(ValueError, match="MOD11"):
        bank_account("86011117948")


def party(**changes: Any) -> Party:
    base: dict[str, Any] = {
        "company_id": SUPPLIER,
        "name": "Østfold Sagbruk AS",
        "org_number": "921277474",
        "street": "Tofteberg 12",
        "postcode": "1617",
        "city": "Fredrikstad",
        "country": "NO",
        "vat_registered": True,
        "bank_account": "86011117947",
        "language": "nb",
    }
    return Party(**{**base, **changes})


def test_the_parties_as_the_invoice_shows_them() -> None:
    assert party().org_display == "921 277 474 MVA" and party().vat_id == "NO921277474MVA"
    plain = party(vat_registered=False)
    assert plain.org_display == "921 277 474" and plain.vat_id is None
    assert Party.of(party().snapshot()) == party()
    assert waiting_for(party(), party(bank_account=None)) is None  # a buyer needs no account
    assert "seller's bank account" in (waiting_for(party(bank_account=None), party()) or "")
    assert "buyer's address" in (waiting_for(party(), party(street=None)) or "")
    assert "seller's company details" in (waiting_for(None, party()) or "")


# --- Hazardous waste -----------------------------------------------------------------------


def test_the_declaration_names_number_description_and_properties() -> None:
    checked = Declaration.checked("7042", " Spent solvent ", ["hp14", "HP3"], "UN 1263")
    assert (checked.properties, checked.un_number, checked.description) == (
        ("HP3", "HP14"),
        "1263",
        "Spent solvent",
    )
    for bad in (
        ("1234", "Solvent", ["HP3"], None),
        ("7042", "x", ["HP3"], None),
        ("7042", "Solvent", [], None),
        ("7042", "Solvent", ["HP16"], None),
        ("7042", "Solvent", ["HP3"], "12"),
    ):
        with pytest.raises(ValueError):
            Declaration.checked(*bad)
    assert Declaration.problem_with(None) is not None
    assert Declaration.problem_with(checked.as_json()) is None


def test_the_receiver_needs_a_permit_for_the_code() -> None:
    assert permit_verified(party(permits=("070104",)), "070104")
    assert not permit_verified(party(), "070104")
    assert not permit_verified(None, "070104")


# --- Reports ------------------------------------------------------------------------------


def test_a_report_turns_the_ledger_totals_into_figures_mapped_to_goals() -> None:
    from services.contracts.domain import report

    totals = {
        "supplied_tonnes": D("8.000"),
        "received_tonnes": D(0),
        "earned_ore": 160000,
        "paid_ore": 0,
        "saved_ore": 80000,
        "tonnes_diverted": D(8),
        "virgin_material_tonnes": D(5),
        "water_m3": D(0),
        "energy_mwh": D("1.5"),
        "co2e_avoided_kg": D("120.5"),
        "transport_kg_co2e": D("3.25"),
        "co2e_net_kg": D("117.25"),
    }
    figures = {f["key"]: (f["value"], f["unit"]) for f in report.figures(totals)}
    assert figures["earned_nok"] == (D(1600), "NOK") and figures["saved_nok"] == (D(800), "NOK")
    assert figures["co2e_net_kg"] == (D("117.25"), "kg CO2e")
    assert figures["supplied_tonnes"] == (D(8), "t")
    goals = {g["id"]: g["figures"] for g in report.goals()}
    assert set(goals) == {
        "SDG 12.5",
        "SDG 12.2",
        "SDG 9.4",
        "SDG 7.a",
        "EU taxonomy: circular economy",
    }
    assert all(key in figures for keys in goals.values() for key in keys)
    used = report.factors(
        [[{"key": "b", "source": "x"}], [{"key": "a", "source": "y"}, {"key": "b", "source": "x"}]]
    )
    assert [f["key"] for f in used] == ["a", "b"]
