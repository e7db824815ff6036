"""Invoicing through Stripe: a worker turns queued invoices into Stripe invoices.

A confirmed delivery queues an invoice (``deliveries.queue_invoice``) and wakes the worker
with ``NOTIFY invoices_queued``; a poll catches what a lost notification would miss. The
worker claims one due row at a time with ``FOR UPDATE SKIP LOCKED``, so several instances
share the queue, and while it holds the row it asks Stripe for:

1. the payer's customer and the payee's Connect account, created once per company and kept
   in ``billing_accounts``, and the 25 % MVA tax rate, created once and kept in
   ``stripe_tax_rates``;
2. a draft invoice to the payer (``send_invoice``, due in 14 days; the platform fee is the
   Connect application fee and the rest is transferred to the payee), then the invoice item
   on that very draft (never a pending item of the customer, which another invoice of the
   same payer could sweep up), then it finalises and sends the invoice.

Every call carries an idempotency key named after what caused it (``customer:<company>``,
``account:<company>``, ``taxrate:mva25``, ``invoice:<id>:create|item|finalize|send``), and a
retry reuses the keys of the first attempt, so Stripe answers a retry with the objects it
already made: a crash or a timeout in the middle of a call never makes a second invoice.
Stripe keeps a key for at least 24 hours; the back-off below retries far sooner.

The row becomes ``issued`` with its Stripe id, and ``invoice.issued`` is written to the
outbox, in one transaction. A failure leaves the row queued with ``attempts`` + 1, the error,
and the next attempt after an exponential back-off with jitter. Stripe being unreachable,
slow, rate limiting or failing (5xx) is expected now and then and logged as a warning; a
request Stripe refuses as invalid is a bug on our side and logged as an error, and the row
still waits (it is never marked issued) until the cause is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import stripe
import structlog
from asyncpg.pool import PoolConnectionProxy
from stripe.params import InvoiceCreateParams

from services.contracts.application import invoice_facts
from services.contracts.config import ContractsSettings
from services.contracts.domain.invoice import MVA_RATE, CreditNote, Invoice, format_account
from services.contracts.outbox import publish
from services.contracts.storage import invoices as invoice_store
from shared.db import Connection, Pool, is_alive
from shared.events import InvoiceIssued

log = structlog.get_logger(__name__)

CHANNEL = "invoices_queued"
CURRENCY = "nok"
OSLO = ZoneInfo("Europe/Oslo")
MVA_TAX_RATE = "mva25"  # our name of the tax rate in stripe_tax_rates and its idempotency key
STRIPE_TIMEOUT_SECONDS = 30.0

# Worth a quiet retry: Stripe unreachable or timing out, 5xx and 409 (a request with the same
# idempotency key still in flight), rate limits, and idempotency conflicts.
TRANSIENT_ERRORS: tuple[type[stripe.StripeError], ...] = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    stripe.IdempotencyError,
)


@dataclass(frozen=True)
class Schedule:
    """How often the worker looks for due rows, and how long a failed row waits."""

    poll_seconds: float = 5.0
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 600.0

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt, after ``attempts`` failed ones: doubling from the
        base up to the cap, then a random point in its upper half (so instances that failed
        together do not all come back at once)."""
        ceiling = min(
            self.backoff_cap_seconds, self.backoff_base_seconds * 2.0 ** min(attempts - 1, 32)
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def stripe_client(
    settings: ContractsSettings, http_client: stripe.HTTPClient
) -> stripe.StripeClient:
    """A client of Stripe's API, or of stripe-mock when ``stripe_api_base`` points there.

    It does not retry by itself: a failed row is retried by the queue, with the same keys."""
    if settings.stripe_api_key is None:
        raise RuntimeError("SYMBIOSIS_STRIPE_API_KEY is not set")
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        http_client=http_client,
        max_network_retries=0,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, stripe.StripeError):
        status = f" {exc.http_status}" if exc.http_status else ""
        code = f" ({exc.code})" if exc.code else ""
        return f"{type(exc).__name__}{status}{code}: {exc.user_message or exc}"[:2000]
    return f"{type(exc).__name__}: {exc}"[:2000]


class Invoicer:
    """Issues the due invoices of one database through one Stripe client."""

    def __init__(
        self, pool: Pool, client: stripe.StripeClient, schedule: Schedule | None = None
    ) -> None:
        self._pool = pool
        self._stripe = client
        self._schedule = schedule or Schedule()

    async def issue_due(self) -> int:
        """Try every due invoice and credit note once; return how many were tried."""
        tried = 0
        while await self.issue_next():
            tried += 1
        while await self.credit_next():
            tried += 1
        return tried

    async def credit_next(self) -> bool:
        """Make one due credit note at Stripe; False when none is due."""
        async with self._pool.acquire() as conn, conn.transaction():
            note = await invoice_store.claim_due_credit_note(conn)
            if note is None:
                return False
            invoice = await invoice_store.invoice_for_update(conn, note.invoice_id)
            assert invoice is not None
            try:
                stripe_id = await self._credit(invoice, note)
            except Exception as exc:
                attempts = note.attempts + 1
                delay = self._schedule.backoff(attempts)
                log.warning(
                    "credit note at Stripe failed, will retry",
                    credit_note_id=str(note.id),
                    attempts=attempts,
                    error=_describe(exc),
                )
                await invoice_store.retry_credit_note_later(
                    conn, note.id, attempts, _describe(exc), delay
                )
            else:
                await invoice_store.mark_credit_note_issued(conn, note.id, stripe_id)
                log.info("credit note made at Stripe", credit_note_id=str(note.id))
            return True

    async def _credit(self, invoice: Invoice, note: CreditNote) -> str:
        assert invoice.stripe_invoice_id is not None
        made = await self._stripe.v1.credit_notes.create_async(
            {
                "invoice": invoice.stripe_invoice_id,
                "amount": note.total_ore,
                "memo": f"Kreditnota {note.number}: {note.reason_in('nb')}"[:500],
                "metadata": {
                    "invoice_id": str(invoice.id),
                    "credit_note_id": str(note.id),
                    "credit_note_number": str(note.number),
                },
            },
            {"idempotency_key": f"credit_note:{note.id}:create"},
        )
        return str(made.id)

    async def issue_next(self) -> bool:
        """Claim one due invoice and issue it; False when none is due (or all are claimed)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await invoice_store.claim_due_invoice(conn)
            if row is None:
                return False
            try:
                stripe_invoice_id = await self._issue(row)
            except Exception as exc:
                await self._failed(conn, row, exc)
            else:
                await self._issued(conn, row, stripe_invoice_id)
            return True

    async def seconds_until_due(self) -> float | None:
        """How long until the next queued invoice is due; None when none is queued."""
        return await invoice_store.seconds_until_due(self._pool)

    async def _issue(self, row: Invoice) -> str:
        key = f"invoice:{row.id}"
        customer = await self._customer(row.payer_company_id)
        account = await self._account(row.payee_company_id)
        seller = row.seller_party()
        mva = await self._mva_tax_rate() if seller.vat_registered else None
        metadata = {
            "invoice_id": str(row.id),
            "delivery_id": str(row.delivery_id),
            "contract_id": str(row.contract_id),
            "invoice_number": str(row.number),
            "kid": str(row.kid),
        }
        assert row.due_date is not None
        due = datetime.combine(row.due_date, time(12), tzinfo=OSLO)
        params: InvoiceCreateParams = {
            "customer": customer,
            "currency": CURRENCY,
            "collection_method": "send_invoice",
            "due_date": int(due.timestamp()),
            "auto_advance": False,  # finalised and sent below, not by Stripe an hour later
            "pending_invoice_items_behavior": "exclude",
            "transfer_data": {"destination": account},
            "description": f"Viken Park symbiosis exchange: {seller.name}",
            "custom_fields": [
                {"name": "Fakturanr.", "value": str(row.number)},
                {"name": "KID", "value": str(row.kid)},
                {"name": "Selger org.nr.", "value": seller.org_display},
            ],
            "footer": (
                f"Betal til konto {format_account(seller.bank_account or '')} med KID {row.kid}, "
                f"eller her. Plattformgebyr til Viken Park: NOK {row.platform_fee_ore / 100:.2f}, "
                "trukket fra utbetalingen til selger."
            )[:5000],
            "metadata": metadata,
        }
        if row.platform_fee_ore > 0:
            params["application_fee_amount"] = row.platform_fee_ore
        draft = await self._stripe.v1.invoices.create_async(
            params, {"idempotency_key": f"{key}:create"}
        )
        await self._stripe.v1.invoice_items.create_async(
            {
                "customer": customer,
                "invoice": draft.id,
                "currency": CURRENCY,
                "amount": row.net_ore,
                "description": row.description,
                "tax_rates": [mva] if mva else [],
                "metadata": metadata,
            },
            {"idempotency_key": f"{key}:item"},
        )
        await self._stripe.v1.invoices.finalize_invoice_async(
            draft.id, None, {"idempotency_key": f"{key}:finalize"}
        )
        await self._stripe.v1.invoices.send_invoice_async(
            draft.id, None, {"idempotency_key": f"{key}:send"}
        )
        return draft.id

    async def _issued(self, conn: Connection, row: Invoice, stripe_invoice_id: str) -> None:
        issued_at = await invoice_store.mark_issued(conn, row.id, stripe_invoice_id)
        await publish(conn, InvoiceIssued(**invoice_facts(row, issued_at)), row.id, None)
        log.info("invoice issued", invoice_id=str(row.id), stripe_invoice_id=stripe_invoice_id)

    async def _failed(self, conn: Connection, row: Invoice, exc: Exception) -> None:
        attempts = row.attempts + 1
        delay = self._schedule.backoff(attempts)
        error = _describe(exc)
        fields = {
            "invoice_id": str(row.id),
            "attempts": attempts,
            "retry_in_seconds": round(delay, 1),
            "error": error,
        }
        if isinstance(exc, TRANSIENT_ERRORS):
            log.warning("invoicing failed, will retry", **fields)
        else:
            log.error("invoicing refused or broken; fix the cause, it stays queued", **fields)
        await invoice_store.retry_later(conn, row.id, attempts, error, delay)

    async def _customer(self, company_id: uuid.UUID) -> str:
        known = await invoice_store.stripe_customer(self._pool, company_id)
        if known is not None:
            return known
        customer = await self._stripe.v1.customers.create_async(
            {
                "description": f"Viken Park company {company_id}",
                "preferred_locales": ["nb"],
                "metadata": {"company_id": str(company_id)},
            },
            {"idempotency_key": f"customer:{company_id}"},
        )
        return await invoice_store.keep_stripe_customer(self._pool, company_id, customer.id)

    async def _account(self, company_id: uuid.UUID) -> str:
        known = await invoice_store.stripe_account(self._pool, company_id)
        if known is not None:
            return known
        account = await self._stripe.v1.accounts.create_async(
            {
                "type": "express",
                "country": "NO",
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"company_id": str(company_id)},
            },
            {"idempotency_key": f"account:{company_id}"},
        )
        return await invoice_store.keep_stripe_account(self._pool, company_id, account.id)

    async def _mva_tax_rate(self) -> str:
        known = await invoice_store.stripe_tax_rate(self._pool, MVA_TAX_RATE)
        if known is not None:
            return known
        rate = await self._stripe.v1.tax_rates.create_async(
            {
                "display_name": "MVA",
                "description": "Merverdiavgift, alminnelig sats",
                "percentage": float(MVA_RATE * 100),
                "inclusive": False,
                "country": "NO",
                "jurisdiction": "NO",
                "tax_type": "vat",
            },
            {"idempotency_key": f"taxrate:{MVA_TAX_RATE}"},
        )
        return await invoice_store.keep_stripe_tax_rate(self._pool, MVA_TAX_RATE, rate.id)


async def invoice_periodically(
    pool: Pool, settings: ContractsSettings, schedule: Schedule | None = None
) -> None:
    """Issue queued invoices through Stripe for as long as the service runs (a background job).

    Without ``stripe_api_key`` it says once that invoicing waits for it, and waits (a loop of
    the worker runtime never ends by itself): the invoices stay queued and are issued once
    the service runs with a key."""
    if settings.stripe_api_key is None:
        log.warning(
            "invoicing waits for Stripe configuration: set SYMBIOSIS_STRIPE_API_KEY; confirmed "
            "deliveries stay in the invoice queue until then"
        )
        await asyncio.Event().wait()  # until the service stops
    schedule = schedule or Schedule()
    http_client = stripe.HTTPXClient(timeout=STRIPE_TIMEOUT_SECONDS)
    invoicer = Invoicer(pool, stripe_client(settings, http_client), schedule)
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    listener: PoolConnectionProxy[Any] | None = None
    try:
        while True:
            if not is_alive(listener):
                if listener is not None:  # lost: give its slot back to the pool
                    with contextlib.suppress(Exception):
                        await pool.release(listener)
                listener = await _listen(pool, on_notify)
            wake.clear()
            wait = schedule.poll_seconds
            try:
                await invoicer.issue_due()
                due = await invoicer.seconds_until_due()
                if due is not None:
                    wait = max(0.05, min(wait, due))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("invoicing cannot reach the database, will retry", error=repr(exc))
            except Exception:  # a bug must not end invoicing for the life of the service
                log.exception("invoicing failed unexpectedly, will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)
    finally:
        if listener is not None and is_alive(listener):
            with contextlib.suppress(Exception):
                await listener.remove_listener(CHANNEL, on_notify)
                await pool.release(listener)
        await http_client.close_async()  # type: ignore[no-untyped-call]  # unannotated in stripe


async def _listen(pool: Pool, on_notify: Any) -> PoolConnectionProxy[Any] | None:
    try:
        conn = await pool.acquire()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("invoicing cannot LISTEN, polling", error=repr(exc))
        return None
    try:
        await conn.add_listener(CHANNEL, on_notify)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("invoicing cannot LISTEN, polling", error=repr(exc))
        await pool.release(conn)
        return None
    return conn


__all__ = ["Invoicer", "Schedule", "invoice_periodically", "stripe_client"]
