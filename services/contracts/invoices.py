"""Invoices of confirmed deliveries, as their payer and payee (and park administrators)
see them; Stripe issues them (services/contracts/billing.py) and reports payment
(services/contracts/webhooks.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel, Field

from services.contracts.storage import invoices as invoice_store
from shared.db import Pool
from shared.http import Problem, principal_of
from shared.units import Quantity


class InvoiceView(BaseModel):
    id: uuid.UUID
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    payer_company_id: uuid.UUID
    payee_company_id: uuid.UUID
    description: str
    quantity: Quantity
    unit: str
    unit_price_ore: int = Field(description="Before MVA.")
    net_ore: int
    mva_ore: int = Field(description="25 % MVA.")
    total_ore: int
    platform_fee_ore: int = Field(description="The park operator's fee, from the payee's share.")
    currency: str = "nok"
    status: str = Field(
        description="`queued` (waiting to be issued at Stripe), `issued`, `paid`, "
        "`payment_failed` or `void`."
    )
    stripe_invoice_id: str | None
    created_at: datetime
    issued_at: datetime | None
    paid_at: datetime | None


_COLUMNS = ", ".join(f for f in InvoiceView.model_fields if f != "currency")


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["invoices"]

    @get("/", operation_id="list_invoices")
    async def mine(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[InvoiceView]:
        """Invoices your company pays or is paid (all, for a park administrator), newest
        first."""
        principal = principal_of(request, "trades:read")
        company = None if principal.is_park_admin else principal.company_id
        rows = await invoice_store.invoices_of(pool, _COLUMNS, company)
        return [InvoiceView(**r) for r in rows]

    @get("/{invoice_id:uuid}", operation_id="get_invoice")
    async def one(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> InvoiceView:
        """One invoice and its payment state; only its payer, payee and park administrators
        see it."""
        principal = principal_of(request, "trades:read")
        company = None if principal.is_park_admin else principal.company_id
        row = await invoice_store.invoice_of(pool, _COLUMNS, invoice_id, company)
        if row is None:
            raise Problem(404, "Not found", f"no invoice {invoice_id} of yours")
        return InvoiceView(**row)
