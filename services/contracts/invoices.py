"""Invoices of confirmed deliveries, as their payer and payee (and park administrators) see
them, with their PDF (in the buyer's language) and EHF (Peppol BIS Billing 3.0 UBL), and the
credit note of a credited invoice; Stripe issues them (services/contracts/billing.py) and
reports payment (services/contracts/webhooks.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter
from pydantic import BaseModel, Field

from services.contracts import documents
from services.contracts.domain.invoice import CreditNote, Invoice
from services.contracts.storage import invoices as invoice_store
from shared.db import Pool
from shared.events import ReasonDetail
from shared.http import Problem, principal_of
from shared.units import Quantity

Language = Literal["nb", "en"]


class PartyView(BaseModel):
    name: str
    org_number: str
    vat_registered: bool
    street: str | None
    postcode: str | None
    city: str | None
    country: str
    bank_account: str | None


class CreditNoteView(BaseModel):
    id: uuid.UUID
    number: int = Field(description="In the seller's series, shared with its invoices.")
    issue_date: date
    reason: str = Field(description="Why, in English.")
    reason_detail: ReasonDetail | None = Field(
        default=None,
        description="The exchange's part of `reason` as a code and its parameters "
        "(`credit_note.delivery_disputed`, `credit_note.voided_at_stripe`: docs/reasons.md); "
        "null on credit notes made before reasons had codes.",
    )
    reason_typed: str | None = Field(
        default=None, description="What a person wrote as the reason (a dispute's), as written."
    )
    net_ore: int
    mva_ore: int
    total_ore: int
    status: str = Field(
        description="`queued` (to be made at Stripe), `issued`, or `not_needed` (Stripe "
        "never had the invoice open, or voided it itself)."
    )

    @classmethod
    def of(cls, note: CreditNote) -> CreditNoteView:
        return cls(**{k: getattr(note, k) for k in cls.model_fields})


class InvoiceView(BaseModel):
    id: uuid.UUID
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    payer_company_id: uuid.UUID = Field(description="The buyer.")
    payee_company_id: uuid.UUID = Field(description="The seller, who issues the invoice.")
    number: int | None = Field(description="The seller's invoice number; None while waiting.")
    issue_date: date | None
    delivery_date: date | None
    due_date: date | None
    kid: str | None = Field(description="KID for the payment (MOD10).")
    account_number: str | None = Field(description="The seller's bank account, to pay to.")
    description: str
    quantity: Quantity
    unit: str
    unit_price_ore: int = Field(description="Before MVA.")
    net_ore: int
    vat_percent: Decimal | None = Field(description="25, or 0 when the seller has no MVA.")
    mva_ore: int
    total_ore: int
    platform_fee_ore: int = Field(
        description="The park operator's fee, charged to the seller and taken from its payout; "
        "not part of what the buyer pays."
    )
    gate_fee: bool = Field(description="The seller is paid to take the material.")
    currency: str = "nok"
    status: str = Field(
        description="`waiting` (for a party's company details), `queued` (to be sent through "
        "Stripe), `issued`, `paid`, `payment_failed`, `void` or `credited`."
    )
    waiting_for: str | None = Field(description="What a waiting invoice needs.")
    seller: PartyView | None
    buyer: PartyView | None
    stripe_invoice_id: str | None
    created_at: datetime
    issued_at: datetime | None
    paid_at: datetime | None
    credit_note: CreditNoteView | None = None

    @classmethod
    def of(cls, invoice: Invoice, note: CreditNote | None = None) -> InvoiceView:
        fields: dict[str, Any] = {
            k: getattr(invoice, k) for k in cls.model_fields if hasattr(invoice, k)
        }
        fields.pop("seller", None)
        fields.pop("buyer", None)
        return cls(
            **fields,
            account_number=(invoice.seller or {}).get("bank_account"),
            waiting_for=invoice.last_error if invoice.status == "waiting" else None,
            seller=None if invoice.seller is None else PartyView(**invoice.seller),
            buyer=None if invoice.buyer is None else PartyView(**invoice.buyer),
            credit_note=None if note is None else CreditNoteView.of(note),
        )


def _document(content: bytes, media_type: str, filename: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["invoices"]

    async def _mine(
        self, request: Request[Any, Any, Any], pool: Pool, invoice_id: uuid.UUID
    ) -> Invoice:
        principal = principal_of(request, "trades:read")
        company = None if principal.is_park_admin else principal.company_id
        found = await invoice_store.invoice_of(pool, invoice_id, company)
        if found is None:
            raise Problem(404, "Not found", f"no invoice {invoice_id} of yours")
        return found

    async def _issued(
        self, request: Request[Any, Any, Any], pool: Pool, invoice_id: uuid.UUID
    ) -> Invoice:
        found = await self._mine(request, pool, invoice_id)
        if found.number is None:
            raise Problem(
                409,
                "Not issued yet",
                f"the invoice is {found.status}"
                + (f": {found.last_error}" if found.last_error else ""),
            )
        return found

    @get("/", operation_id="list_invoices")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 500,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> list[InvoiceView]:
        """Invoices your company pays or is paid (all, for a park administrator), newest
        first, ``limit`` of them from ``offset``."""
        principal = principal_of(request, "trades:read")
        company = None if principal.is_park_admin else principal.company_id
        found = await invoice_store.invoices_of(pool, company, limit, offset)
        return [InvoiceView.of(i) for i in found]

    @get("/{invoice_id:uuid}", operation_id="get_invoice")
    async def one(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> InvoiceView:
        """One invoice, its payment state and its credit note if any; only its payer, payee
        and park administrators see it."""
        found = await self._mine(request, pool, invoice_id)
        note = await invoice_store.credit_note_of_invoice(pool, found.id)
        return InvoiceView.of(found, note)

    @get("/{invoice_id:uuid}/pdf", operation_id="invoice_pdf", media_type="application/pdf")
    async def pdf(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        lang: FromQuery[Language | None] = None,
    ) -> Response[bytes]:
        """The invoice as a PDF, in the buyer's language (or `lang`: `nb`, `en`)."""
        found = await self._issued(request, pool, invoice_id)
        language = lang or found.buyer_party().language
        return _document(
            documents.invoice_pdf(found, language),
            "application/pdf",
            f"invoice-{found.number}.pdf",
        )

    @get("/{invoice_id:uuid}/ehf", operation_id="invoice_ehf", media_type="application/xml")
    async def ehf(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Response[bytes]:
        """The invoice as EHF: a Peppol BIS Billing 3.0 UBL Invoice."""
        found = await self._issued(request, pool, invoice_id)
        return _document(
            documents.invoice_ehf(found), "application/xml", f"invoice-{found.number}.xml"
        )

    async def _credit_note(
        self, request: Request[Any, Any, Any], pool: Pool, invoice_id: uuid.UUID
    ) -> tuple[Invoice, CreditNote]:
        found = await self._issued(request, pool, invoice_id)
        note = await invoice_store.credit_note_of_invoice(pool, found.id)
        if note is None:
            raise Problem(404, "Not found", "this invoice has no credit note")
        return found, note

    @get(
        "/{invoice_id:uuid}/credit-note/pdf",
        operation_id="credit_note_pdf",
        media_type="application/pdf",
    )
    async def credit_note_pdf(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        lang: FromQuery[Language | None] = None,
    ) -> Response[bytes]:
        """The credit note that annuls this invoice, as a PDF."""
        found, note = await self._credit_note(request, pool, invoice_id)
        language = lang or found.buyer_party().language
        return _document(
            documents.credit_note_pdf(found, note, language),
            "application/pdf",
            f"credit-note-{note.number}.pdf",
        )

    @get(
        "/{invoice_id:uuid}/credit-note/ehf",
        operation_id="credit_note_ehf",
        media_type="application/xml",
    )
    async def credit_note_ehf(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Response[bytes]:
        """The credit note as EHF: a Peppol BIS Billing 3.0 UBL CreditNote."""
        found, note = await self._credit_note(request, pool, invoice_id)
        return _document(
            documents.credit_note_ehf(found, note),
            "application/xml",
            f"credit-note-{note.number}.xml",
        )
