"""Stripe's webhook: what becomes of an invoice once Stripe has it (sent, paid, failed, voided).

Stripe signs every delivery (``Stripe-Signature``: a timestamp and an HMAC-SHA256 of
``"<timestamp>.<body>"`` with the endpoint's secret); a request that is unsigned, signed with
another secret, altered, or signed more than five minutes ago (or dated more than five
minutes ahead) is refused with a 400 problem.

Stripe delivers each event at least once and in no particular order. An event id is applied
once (``stripe_events``; a replay is answered 200 and changes nothing), and an invoice only
moves forward: ``paid`` is final, a failed payment never undoes it, ``invoice.finalized``
after ``invoice.paid`` changes nothing. Each change of status writes its event
(``invoice.issued``, ``invoice.paid``, ``invoice.payment_failed``) to the outbox in the same
transaction. Our invoice is found by ``metadata.invoice_id`` on Stripe's invoice, else by its
Stripe id. Events of other types are recorded and ignored.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import stripe
import structlog
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from pydantic import BaseModel, Field

from services.contracts import application
from services.contracts.application import invoice_facts
from services.contracts.config import ContractsSettings
from services.contracts.domain.invoice import Invoice
from services.contracts.outbox import publish
from services.contracts.storage import invoices as invoice_store
from shared.db import Connection, Pool
from shared.events import (
    InvoiceFacts,
    InvoiceIssued,
    InvoicePaid,
    InvoicePaymentFailed,
    ReasonDetail,
)
from shared.http import PUBLIC, Problem

log = structlog.get_logger(__name__)

TOLERANCE_SECONDS = 300
Outcome = Literal["applied", "unchanged", "replayed", "ignored", "unmatched"]


class WebhookReceipt(BaseModel):
    event_id: str
    outcome: Outcome = Field(
        description="`applied` (the invoice changed), `unchanged` (it is already there or "
        "beyond), `replayed` (this event id was handled before), `ignored` (a type the "
        "exchange does not act on) or `unmatched` (not an invoice of the exchange)."
    )


HANDLED = frozenset(
    {
        "invoice.finalized",
        "invoice.sent",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.voided",
    }
)


def _at(unix: Any, fallback: datetime) -> datetime:
    return datetime.fromtimestamp(unix, UTC) if isinstance(unix, int) else fallback


def _transition(event_type: str, status: str) -> tuple[str, type[InvoiceFacts] | None] | None:
    """The new status and the event to publish, or None when ``event_type`` changes nothing
    for an invoice in ``status``."""
    if event_type in ("invoice.finalized", "invoice.sent"):
        return ("issued", InvoiceIssued) if status in ("queued", "waiting") else None
    if event_type == "invoice.paid":
        return ("paid", InvoicePaid) if status not in ("paid", "void", "credited") else None
    if event_type == "invoice.payment_failed":
        return ("payment_failed", InvoicePaymentFailed) if status in ("queued", "issued") else None
    if event_type == "invoice.voided":
        return ("void", None) if status not in ("paid", "void", "credited") else None
    raise ValueError(event_type)


async def _our_invoice(conn: Connection, invoice: dict[str, Any]) -> Invoice | None:
    metadata = invoice.get("metadata")
    ours = metadata.get("invoice_id") if isinstance(metadata, dict) else None
    if isinstance(ours, str):
        try:
            invoice_id = uuid.UUID(ours)
        except ValueError:
            pass
        else:
            row = await invoice_store.invoice_for_update(conn, invoice_id)
            if row is not None:
                return row
    stripe_id = invoice.get("id")
    if not isinstance(stripe_id, str):
        return None
    # Stripe's ids are unique, stripe-mock's are not: never guess between two invoices.
    found = await invoice_store.invoices_by_stripe_id(conn, stripe_id)
    return found[0] if len(found) == 1 else None


async def apply_event(
    conn: Connection, event_id: str, event_type: str, created: datetime, invoice: dict[str, Any]
) -> Outcome:
    """Apply one verified Stripe event; call inside a transaction."""
    if not await invoice_store.first_sight_of_stripe_event(conn, event_id, event_type):
        return "replayed"
    if event_type not in HANDLED:
        return "ignored"
    row = await _our_invoice(conn, invoice)
    if row is None:
        log.warning(
            "Stripe event about an invoice the exchange does not know",
            event_id=event_id,
            event_type=event_type,
            stripe_invoice_id=invoice.get("id"),
        )
        return "unmatched"
    stripe_id = invoice.get("id") if isinstance(invoice.get("id"), str) else None
    if row.stripe_invoice_id is not None and stripe_id not in (None, row.stripe_invoice_id):
        log.warning(
            "Stripe event about another Stripe invoice than the one recorded",
            event_id=event_id,
            invoice_id=str(row.id),
            recorded=row.stripe_invoice_id,
            stripe_invoice_id=stripe_id,
        )
        return "unmatched"
    change = _transition(event_type, row.status)
    if change is None:
        return "unchanged"
    status, event_class = change
    if status == "void":  # annulled at Stripe: our credit note, invoice.voided
        await application.credit(
            conn,
            row,
            "voided at Stripe",
            event_id,
            detail=ReasonDetail(code="credit_note.voided_at_stripe"),
            voided_at_stripe=True,
        )
        log.info("invoice voided at Stripe", invoice_id=str(row.id), event_id=event_id)
        return "applied"
    transitions = invoice.get("status_transitions")
    transitions = transitions if isinstance(transitions, dict) else {}
    issued_at = row.issued_at
    if issued_at is None:
        issued_at = _at(transitions.get("finalized_at"), created)
    paid_at = _at(transitions.get("paid_at"), created) if status == "paid" else row.paid_at
    await invoice_store.set_stripe_state(conn, row.id, status, stripe_id, issued_at, paid_at)
    if event_class is not None:
        at = {"issued": issued_at, "paid": paid_at}.get(status) or created
        await publish(conn, event_class(**invoice_facts(row, at)), row.id, event_id)
    log.info(
        "invoice updated from Stripe",
        invoice_id=str(row.id),
        status=status,
        was=row.status,
        event_id=event_id,
    )
    return "applied"


def _not_from_the_future(header: str, now: float | None = None) -> None:
    """Stripe's library refuses old signatures only; one dated ahead (beyond the same
    tolerance, for clocks that differ) is refused as well: it would stay replayable."""
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            ahead = int(value) - (time.time() if now is None else now)
            if ahead > TOLERANCE_SECONDS:
                raise Problem(
                    400,
                    "Signature not valid",
                    "the signature is dated in the future; check the clock",
                )


class StripeWebhookController(Controller):
    path = "/stripe"
    tags = ["billing"]

    @post(
        "/webhook",
        opt={PUBLIC: True},
        security=[],
        operation_id="receive_stripe_event",
        status_code=200,
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        settings: NamedDependency[ContractsSettings],
    ) -> WebhookReceipt:
        """Stripe's webhook endpoint for invoice events; Stripe calls it, not API clients.

        The request is Stripe's JSON event, signed in the `Stripe-Signature` header with the
        endpoint's secret. Applied: `invoice.finalized` and `invoice.sent` (issued),
        `invoice.paid`, `invoice.payment_failed` and `invoice.voided`, each event once and in
        any order of arrival (a paid invoice stays paid). A missing or wrong signature, or one
        older than five minutes or dated ahead, is refused with 400."""
        secret = settings.stripe_webhook_secret
        if secret is None:
            raise Problem(
                503,
                "Webhooks are not configured",
                "the exchange has no Stripe webhook secret (SYMBIOSIS_STRIPE_WEBHOOK_SECRET)",
            )
        payload = await request.body()
        try:
            event: stripe.Event = stripe.Webhook.construct_event(
                payload,
                request.headers.get("stripe-signature"),
                secret.get_secret_value(),
                tolerance=TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as exc:
            raise Problem(400, "Signature not valid", str(exc)) from exc
        except ValueError as exc:  # signed, but not JSON or not a Stripe event
            raise Problem(400, "Not a Stripe event", str(exc)) from exc
        _not_from_the_future(request.headers.get("stripe-signature") or "")
        values = event.to_dict()
        event_id, event_type = values.get("id"), values.get("type")
        if not isinstance(event_id, str) or not isinstance(event_type, str):
            raise Problem(400, "Not a Stripe event", "the event has no id or type")
        data = values.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        invoice = obj if isinstance(obj, dict) else {}
        created = _at(values.get("created"), datetime.now(UTC))
        async with pool.acquire() as conn, conn.transaction():
            outcome = await apply_event(conn, event_id, event_type, created, invoice)
        return WebhookReceipt(event_id=event_id, outcome=outcome)


__all__ = ["StripeWebhookController", "apply_event"]
