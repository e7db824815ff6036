"""Which company is told what of each event, in both languages."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.notifications.domain import ROUTES, notes_for
from shared.events import (
    ContractAgreed,
    ContractCancelled,
    ContractCompleted,
    CreditNoteIssued,
    DeliveryConfirmed,
    DeliveryDisputed,
    DeliveryRecorded,
    InvoiceIssued,
    InvoicePaid,
    InvoicePaymentFailed,
    InvoiceVoided,
    ListingExpiring,
    NegotiationCountered,
    NegotiationDeclined,
    NegotiationExpired,
    NegotiationReduced,
    NegotiationWithdrawn,
    Payload,
    ReasonDetail,
    Terms,
    TradeProposed,
    TradeRetracted,
)

SUPPLIER, RECEIVER = uuid.UUID(int=1), uuid.UUID(int=2)
NOW = datetime(2027, 1, 5, tzinfo=UTC)
PAIR = {"supplier_company_id": SUPPLIER, "receiver_company_id": RECEIVER}
TERMS = Terms(quantity=Decimal(12), unit="t", price_per_unit_ore=15050)
NEGOTIATION = {**PAIR, "negotiation_id": uuid.uuid4(), "title": "Sawdust", "at": NOW}
DELIVERY = {
    **PAIR,
    "delivery_id": uuid.uuid4(),
    "contract_id": uuid.uuid4(),
    "title": "Sawdust",
    "quantity": Decimal("12.5"),
    "unit": "t",
    "delivered_on": date(2027, 1, 4),
    "note": "Ticket 17",
    "at": NOW,
}
INVOICE = {
    "invoice_id": uuid.uuid4(),
    "delivery_id": uuid.uuid4(),
    "contract_id": uuid.uuid4(),
    "payer_company_id": RECEIVER,
    "payee_company_id": SUPPLIER,
    "amount_ore": 23456789,
    "at": NOW,
}
CONTRACT = {
    **PAIR,
    "contract_id": uuid.uuid4(),
    "offer_id": uuid.uuid4(),
    "need_id": uuid.uuid4(),
}

# event → the companies told of it
CASES: list[tuple[Payload, set[uuid.UUID]]] = [
    (
        TradeProposed(
            **PAIR,
            proposal_id=uuid.uuid4(),
            offer_id=uuid.uuid4(),
            need_id=uuid.uuid4(),
            ewc_code="030105",
            title="Sawdust",
            quantity=Decimal(12),
            unit="t",
            reasons=("same List of Waste code 03 01 05",),
            reason_details=(ReasonDetail(code="resource.same_code", params={"code": "030105"}),),
        ),
        {SUPPLIER, RECEIVER},
    ),
    (
        TradeRetracted(
            **PAIR,
            proposal_id=uuid.uuid4(),
            offer_id=uuid.uuid4(),
            need_id=uuid.uuid4(),
            title="Sawdust",
            reason="the listing was withdrawn",
            retracted_at=NOW,
        ),
        {SUPPLIER, RECEIVER},
    ),
    (NegotiationCountered(**NEGOTIATION, by_company_id=RECEIVER, terms=TERMS), {SUPPLIER}),
    (NegotiationDeclined(**NEGOTIATION, by_company_id=SUPPLIER), {RECEIVER}),
    (NegotiationExpired(**NEGOTIATION, by_company_id=None), {SUPPLIER, RECEIVER}),
    (
        ContractAgreed(
            **CONTRACT,
            quantity=Decimal(12),
            unit="t",
            price_per_unit_ore=15050,
            agreed_at=NOW,
            title="Sawdust",
        ),
        {SUPPLIER, RECEIVER},
    ),
    (
        ContractCancelled(
            **CONTRACT,
            undelivered_quantity=Decimal(3),
            unit="t",
            by_company_id=RECEIVER,
            reason="boiler shut down",
            cancelled_at=NOW,
        ),
        {SUPPLIER},
    ),
    (DeliveryRecorded(**DELIVERY), {RECEIVER}),
    (DeliveryConfirmed(**DELIVERY), {SUPPLIER}),
    (DeliveryDisputed(**DELIVERY), {SUPPLIER}),
    (InvoiceIssued(**INVOICE), {SUPPLIER, RECEIVER}),
    (InvoicePaid(**INVOICE), {SUPPLIER, RECEIVER}),
    (InvoicePaymentFailed(**INVOICE), {SUPPLIER, RECEIVER}),
    (InvoiceVoided(**INVOICE, number=7, reason="voided at Stripe"), {SUPPLIER, RECEIVER}),
    (
        CreditNoteIssued(
            **{k: v for k, v in INVOICE.items() if k != "amount_ore"},
            credit_note_id=uuid.uuid4(),
            number=8,
            invoice_number=7,
            amount_ore=23456789,
            reason="delivery disputed after invoicing: wet",
        ),
        {SUPPLIER, RECEIVER},
    ),
    (
        NegotiationReduced(
            **NEGOTIATION,
            by_company_id=None,
            terms=TERMS,
            listing_id=uuid.uuid4(),
            asked_quantity=Decimal(520),
            by_contract_id=uuid.uuid4(),
        ),
        {SUPPLIER, RECEIVER},
    ),
    (
        NegotiationWithdrawn(
            **NEGOTIATION,
            by_company_id=None,
            listing_id=uuid.uuid4(),
            asked_quantity=Decimal(520),
            remaining_quantity=Decimal(0),
            unit="t",
            by_contract_id=uuid.uuid4(),
        ),
        {SUPPLIER, RECEIVER},
    ),
    (
        ContractCompleted(
            **CONTRACT,
            title="Sawdust",
            delivered_quantity=Decimal(12),
            unit="t",
            deliveries=2,
            completed_at=NOW,
        ),
        {SUPPLIER, RECEIVER},
    ),
    (
        ListingExpiring(
            listing_id=uuid.uuid4(),
            company_id=SUPPLIER,
            kind="offer",
            title="Sawdust",
            available_until=date(2027, 1, 8),
            days_left=3,
        ),
        {SUPPLIER},
    ),
]


def test_every_routed_event_type_has_a_case() -> None:
    assert {type(event) for event, _ in CASES} == set(ROUTES)


@pytest.mark.parametrize(("event", "told"), CASES, ids=[e.event_type for e, _ in CASES])
def test_the_right_companies_are_told_in_both_languages(
    event: Payload, told: set[uuid.UUID]
) -> None:
    event_id = uuid.uuid4()
    notes = notes_for(event_id, event)
    assert {n.company_id for n in notes} == told
    assert len({n.id for n in notes}) == len(notes)
    assert notes_for(event_id, event) == notes  # the same event gives the same notes
    for note in notes:
        for text in (note.title, note.body):
            assert text.nb and text.en and text.nb != text.en, (event.event_type, text)
        assert note.link.startswith(("/negotiations/", "/contracts/", "/invoices/", "/listings/"))


def test_money_and_amounts_read_naturally_in_each_language() -> None:
    [note] = notes_for(
        uuid.uuid4(), NegotiationCountered(**NEGOTIATION, by_company_id=RECEIVER, terms=TERMS)
    )
    assert "12 t til kr 150,50 per t" in note.body.nb
    assert "12 t at NOK 150.50 per t" in note.body.en
    payer = notes_for(uuid.uuid4(), InvoiceIssued(**INVOICE))[0]
    assert "kr 234 567,89" in payer.body.nb and "NOK 234,567.89" in payer.body.en


@pytest.mark.parametrize(
    ("days", "nb", "en"),
    [(0, "i dag", "today"), (1, "i morgen", "tomorrow"), (5, "om 5 dager", "in 5 days")],
)
def test_an_ending_listing_says_when_in_words(days: int, nb: str, en: str) -> None:
    event = ListingExpiring(
        listing_id=uuid.uuid4(),
        company_id=SUPPLIER,
        kind="need",
        title="Process water",
        available_until=date(2027, 1, 8),
        days_left=days,
    )
    (note,) = notes_for(uuid.uuid4(), event)
    assert f"({nb})" in note.body.nb and "behov" in note.body.nb
    assert f"({en})" in note.body.en and "need" in note.body.en
    assert note.link == f"/listings/{event.listing_id}"


def test_a_proposals_reasons_read_in_each_language() -> None:
    proposed = next(event for event, _ in CASES if isinstance(event, TradeProposed))
    for note in notes_for(uuid.uuid4(), proposed):
        assert "Hvorfor: samme kode i avfallslisten: 03 01 05." in note.body.nb
        assert "Why: same List of Waste code 03 01 05." in note.body.en


@pytest.mark.parametrize(("event", "told"), CASES, ids=[e.event_type for e, _ in CASES])
def test_a_note_names_what_people_wrote_that_it_quotes(
    event: Payload, told: set[uuid.UUID]
) -> None:
    """A listing's or trade's title and a receiver's note stand in the note as written, and
    the note says which they are (for the portal to mark them as not to be translated);
    the exchange's own words are not among them."""
    wanted = {getattr(event, "title", None), getattr(event, "reason_typed", None)} - {None}
    if isinstance(event, DeliveryDisputed):
        wanted.add(event.note)
    for note in notes_for(uuid.uuid4(), event):
        assert set(note.typed) == wanted, (event.event_type, note.typed)
        for quoted in note.typed:
            for language in ("nb", "en"):
                said = note.title.in_(language) + note.body.in_(language)
                assert quoted in said, (event.event_type, quoted, language)


def test_a_contracts_and_a_credit_notes_reasons_read_in_each_language() -> None:
    """The exchange's part of the reason from its code in each language, what a person wrote
    as written and quoted; an event from before the codes keeps its English."""
    refused = ContractCancelled(
        **CONTRACT,
        undelivered_quantity=Decimal(12),
        unit="t",
        by_company_id=None,
        reason="the listings could not reserve it: the contract needs 12 t, but only 3 remain",
        reason_detail=ReasonDetail(
            code="contract.reservation_refused",
            params={
                "refusal": {
                    "code": "listing.too_little",
                    "params": {"needed": "12.5", "free": "3", "unit": "t"},
                }
            },
        ),
        cancelled_at=NOW,
    )
    for note in notes_for(uuid.uuid4(), refused):
        assert note.body.nb == (
            "Avtalen er kansellert: oppføringene kunne ikke reservere den: kontrakten trenger "
            "12,5 t, men bare 3 t er igjen."
        )
        assert note.body.en == (
            "The contract is cancelled: the listings could not reserve it: the contract needs "
            "12.5 t, but only 3 t remain."
        )
        assert note.typed == ()
    by_party = refused.model_copy(
        update={
            "by_company_id": RECEIVER,
            "reason": "Kjelen er stengt",
            "reason_detail": ReasonDetail(code="contract.cancelled_by_party"),
            "reason_typed": "Kjelen er stengt",
        }
    )
    (note,) = notes_for(uuid.uuid4(), by_party)
    assert note.body.nb == "Avtalen er kansellert: kansellert av en av partene: Kjelen er stengt."
    assert note.typed == ("Kjelen er stengt",)
    credited = CreditNoteIssued(
        **{k: v for k, v in INVOICE.items() if k != "amount_ore"},
        credit_note_id=uuid.uuid4(),
        number=8,
        invoice_number=7,
        amount_ore=100000,
        reason="delivery disputed after invoicing: For vått",
        reason_detail=ReasonDetail(code="credit_note.delivery_disputed"),
        reason_typed="For vått",
    )
    for note in notes_for(uuid.uuid4(), credited):
        assert note.body.nb.endswith("leveransen ble bestridt etter fakturering: For vått.")
        assert note.body.en.endswith("delivery disputed after invoicing: For vått.")
        assert note.typed == ("For vått",)
    before = refused.model_copy(update={"reason_detail": None})
    for note in notes_for(uuid.uuid4(), before):
        assert note.body.nb == f"Avtalen er kansellert: {before.reason}."
    newer = refused.model_copy(update={"reason_detail": ReasonDetail(code="contract.unheard_of")})
    for note in notes_for(uuid.uuid4(), newer):
        assert note.body.nb == f"Avtalen er kansellert: {newer.reason}."
