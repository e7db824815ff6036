"""Why a contract ended or runs again, and why an invoice was credited, in the page's
language: the contract and invoice pages render the contracts API's code (its
``status_reason_detail`` / ``reason_detail``) in the reader's words, what a person wrote as
written (``translate="no"``), and a row made before the codes as its English, marked
``lang="en"``. The pages are rendered here from the API's own views, without a browser."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.contracts.deliveries import ContractView
from services.contracts.invoices import CreditNoteView, InvoiceView
from services.portal.i18n import Language, speaking
from services.portal.templating import environment
from tests.unit.test_reasons import listing_refusals

SUPPLIER, RECEIVER = uuid.uuid4(), uuid.uuid4()


def contract(status: str, reason: str | None, **more: Any) -> dict[str, Any]:
    """A contract as GET /api/contracts/contracts/{id} gives it."""
    view = ContractView(
        id=uuid.uuid4(),
        negotiation_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=SUPPLIER,
        receiver_company_id=RECEIVER,
        title="Sawdust from the planing line",
        ewc_code="030105",
        resource_class=None,
        hazardous=False,
        quantity="12.5",
        unit="t",
        price_per_unit_ore=12000,
        delivery_from=None,
        delivery_until=None,
        transport="supplier",
        schedule="once",
        status=status,
        status_reason=reason,
        agreed_at=datetime(2027, 1, 4, 10, tzinfo=UTC),
        ended_at=None,
        delivered="0",
        pending="0",
        **more,
    )
    return view.model_dump(mode="json")


def page(name: str, language: Language, **context: Any) -> str:
    template = environment().get_template(name)
    with speaking(language):
        return template.render(
            names={},
            invoices={},
            values={},
            errors=None,
            side="supplier",
            csrf_token=lambda: "token",
            person=None,
            path="/contracts",
            **context,
        )


def _reason(html: str) -> str:
    """What the page says after its "Reason"."""
    for label in ("<dt>Begrunnelse</dt><dd>", "<dt>Reason</dt><dd>"):
        if label in html:
            return html.split(label, 1)[1].split("</dd>", 1)[0]
    raise AssertionError("no reason on the page")


REFUSED = {
    "code": "contract.reservation_refused",
    "params": {"refusal": listing_refusals()[-1].model_dump()},
}


@pytest.mark.parametrize(
    ("status", "english", "detail", "typed", "nb", "en"),
    [
        (
            "completed",
            "every delivery confirmed",
            {"code": "contract.completed", "params": {}},
            None,
            "alle leveransene er bekreftet",
            "every delivery confirmed",
        ),
        (
            "cancelled",
            "the listings could not reserve it: the contract needs 40.5 t, but only 30 remain",
            REFUSED,
            None,
            "oppføringene kunne ikke reservere den: kontrakten trenger 40,5 t, men bare 30 t "
            "er igjen",
            "the listings could not reserve it: the contract needs 40.5 t, but only 30 t remain",
        ),
        (
            "cancelled",
            "Kjelen er stengt for ombygging",
            {"code": "contract.cancelled_by_party", "params": {}},
            "Kjelen er stengt for ombygging",
            'kansellert av en av partene: <span translate="no">Kjelen er stengt for '
            "ombygging</span>",
            'cancelled by one of the parties: <span translate="no">Kjelen er stengt for '
            "ombygging</span>",
        ),
        (
            "active",
            "a confirmed delivery was disputed: Too wet",
            {"code": "contract.reopened_by_dispute", "params": {}},
            "Too wet",
            'en bekreftet leveranse ble bestridt: <span translate="no">Too wet</span>',
            'a confirmed delivery was disputed: <span translate="no">Too wet</span>',
        ),
    ],
    ids=["completed", "reservation-refused", "cancelled-by-party", "reopened"],
)
def test_a_contracts_reason_is_said_in_the_pages_language(
    status: str, english: str, detail: dict[str, Any], typed: str | None, nb: str, en: str
) -> None:
    shown = contract(status, english, status_reason_detail=detail, status_reason_typed=typed)
    assert _reason(page("contracts/contract.html", "nb", contract=shown)) == nb
    assert _reason(page("contracts/contract.html", "en", contract=shown)) == en


def test_a_contract_that_ended_before_the_codes_shows_its_english_marked_as_english() -> None:
    shown = contract("completed", "every delivery confirmed")
    assert shown["status_reason_detail"] is None
    said = _reason(page("contracts/contract.html", "nb", contract=shown))
    assert said == '<span lang="en">every delivery confirmed</span>'
    # a code this portal does not know yet: the sentence, not the code
    newer = contract(
        "cancelled",
        "the park closed the line",
        status_reason_detail={"code": "contract.closed_by_park", "params": {}},
    )
    said = _reason(page("contracts/contract.html", "nb", contract=newer))
    assert said == '<span lang="en">the park closed the line</span>'


def invoice(**note: Any) -> dict[str, Any]:
    """An invoice credited after a dispute, as GET /api/contracts/invoices/{id} gives it."""
    credit_note = CreditNoteView(
        id=uuid.uuid4(),
        number=8,
        issue_date=date(2027, 1, 6),
        net_ore=100000,
        mva_ore=25000,
        total_ore=125000,
        status="not_needed",
        **note,
    )
    view = InvoiceView(
        id=uuid.uuid4(),
        delivery_id=uuid.uuid4(),
        contract_id=uuid.uuid4(),
        payer_company_id=RECEIVER,
        payee_company_id=SUPPLIER,
        number=7,
        issue_date=date(2027, 1, 5),
        delivery_date=date(2027, 1, 4),
        due_date=date(2027, 1, 19),
        kid="0000000070",
        account_number="15030012345",
        description="Sawdust",
        quantity="12.5",
        unit="t",
        unit_price_ore=8000,
        net_ore=100000,
        vat_percent="25",
        mva_ore=25000,
        total_ore=125000,
        platform_fee_ore=1000,
        gate_fee=False,
        status="credited",
        waiting_for=None,
        seller=None,
        buyer=None,
        stripe_invoice_id=None,
        created_at=datetime(2027, 1, 5, tzinfo=UTC),
        issued_at=datetime(2027, 1, 5, tzinfo=UTC),
        paid_at=None,
        credit_note=credit_note,
    )
    return view.model_dump(mode="json")


def credits(html: str) -> str:
    return html.split("<h2>", 1)[1].split("<p>", 1)[1].split("</p>", 1)[0]


def test_a_credit_notes_reason_after_a_dispute_is_said_in_the_pages_language() -> None:
    disputed = invoice(
        reason="delivery disputed after invoicing: Våt flis",
        reason_detail={"code": "credit_note.delivery_disputed", "params": {}},
        reason_typed="Våt flis",
    )
    titles = {disputed["contract_id"]: "Sawdust"}
    nb = credits(page("contracts/invoice.html", "nb", invoice=disputed, titles=titles))
    assert nb.endswith(
        'leveransen ble bestridt etter fakturering: <span translate="no">Våt flis</span>'
    )
    assert "delivery disputed" not in nb
    en = credits(page("contracts/invoice.html", "en", invoice=disputed, titles=titles))
    assert en.endswith('delivery disputed after invoicing: <span translate="no">Våt flis</span>')
    voided = invoice(
        reason="voided at Stripe",
        reason_detail={"code": "credit_note.voided_at_stripe", "params": {}},
    )
    titles = {voided["contract_id"]: "Sawdust"}
    said = credits(page("contracts/invoice.html", "nb", invoice=voided, titles=titles))
    assert said.endswith("annullert hos Stripe")
    before = invoice(reason="voided at Stripe")
    titles = {before["contract_id"]: "Sawdust"}
    said = credits(page("contracts/invoice.html", "nb", invoice=before, titles=titles))
    assert said.endswith('<span lang="en">voided at Stripe</span>')
