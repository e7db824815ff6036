"""What the contracts service does, each in the caller's transaction: load the aggregates,
let the domain decide, write the rows and the events it causes to the outbox. HTTP and Kafka
handlers only call these.

Locks: an agreement locks the offer's and the need's ``listings`` rows (in id order) before
any negotiation row, so agreements on one listing take turns and see each other's
contracts; nothing that holds a negotiation lock waits for a listing lock, so they cannot
deadlock."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.contracts import impact, storage
from services.contracts.config import ContractsSettings
from services.contracts.domain import capacity
from services.contracts.domain import invoice as billing
from services.contracts.domain.contract import Contract, Delivery
from services.contracts.domain.declaration import Declaration, permit_verified
from services.contracts.domain.invoice import Invoice
from services.contracts.domain.negotiation import Negotiation, Terms, both_accepted
from services.contracts.domain.refusals import Refused, not_found
from services.contracts.outbox import publish
from services.contracts.storage import invoices as invoice_store
from shared import events
from shared.db import Connection
from shared.units import convert, format_quantity


@dataclass(frozen=True)
class Actor:
    """Who acts: the company, and the person or API key acting for it."""

    company_id: uuid.UUID
    subject_id: uuid.UUID
    kind: str


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return date.today()


# --- Proposals become negotiations ---------------------------------------------------------


async def open_negotiation(
    conn: Connection, proposed: events.TradeProposed, at: datetime, settings: ContractsSettings
) -> None:
    proposal = await storage.record_proposal(conn, proposed, at)
    if proposal is None:
        return
    value = proposed.value
    await storage.open_negotiation(
        conn,
        proposal,
        None if value is None else value.suggested_price_ore_per_unit,
        at + timedelta(hours=settings.negotiation_expiry_hours),
    )


async def retract_proposal(conn: Connection, retracted: events.TradeRetracted) -> None:
    await storage.retract_proposal(conn, retracted.proposal_id)
    await storage.withdraw_untouched_negotiation(conn, retracted.proposal_id)


# --- Negotiating ---------------------------------------------------------------------------


def _ask(terms: Terms | events.Terms) -> capacity.Ask:
    return capacity.Ask(
        terms.quantity, terms.unit, terms.schedule, terms.delivery_from, terms.delivery_until
    )


async def _fitting(conn: Connection, listing: capacity.Listing, ask: capacity.Ask) -> Decimal:
    return capacity.fitting(listing, await storage.holds_on(conn, listing.id), ask, today())


def _what(listing: capacity.Listing) -> str:
    return f"the {listing.kind} {listing.title!r}"


async def _check_capacity(
    conn: Connection,
    negotiation: Negotiation,
    ask: capacity.Ask,
    listings: dict[uuid.UUID, capacity.Listing],
    strict: bool,
) -> None:
    """Refused when the offer or the need cannot give ``ask``; with ``strict``, also when
    the exchange has not heard of a listing yet (an agreement needs to know)."""
    for listing_id in (negotiation.offer_id, negotiation.need_id):
        listing = listings.get(listing_id)
        if listing is None:
            if strict:
                raise Refused(
                    "conflict",
                    "Not ready",
                    f"the exchange has not yet heard of listing {listing_id}; try again in a "
                    "moment",
                    code="negotiation.not_ready",
                )
            continue
        fits = await _fitting(conn, listing, ask)
        if fits < ask.quantity:
            left = (
                f"only {format_quantity(fits, ask.unit)} remain" if fits > 0 else "nothing remains"
            )
            raise Refused(
                "conflict",
                "More than the listing has",
                f"{_what(listing)} cannot give {format_quantity(ask.quantity, ask.unit)}"
                + (f" ({ask.schedule}, by period)" if ask.schedule != "once" else "")
                + f": {left} after its other contracts"
                + (f"; counter with at most {format_quantity(fits, ask.unit)}" if fits > 0 else ""),
                field="quantity",
                message=f"at most {format_quantity(fits, ask.unit)}",
                code="negotiation.more_than_remains",
                remaining=fits,
                unit=ask.unit,
            )


# How long an acceptance waits for the listings' events to reach this service (its consumer
# of listings.events.v1 may still be catching up with the proposal's), before it says so.
PATIENCE_SECONDS = 15.0


async def _heard_of(conn: Connection, listing_ids: list[uuid.UUID]) -> None:
    """Wait, a little, until this service knows the listings (read committed: each look
    sees what the consumer has committed since)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if all([await storage.listing(conn, i) is not None for i in listing_ids]):
            return
        await asyncio.sleep(0.2)


async def _open_negotiation(
    conn: Connection, negotiation_id: uuid.UUID, company_id: uuid.UUID
) -> tuple[Negotiation, Terms]:
    negotiation = await storage.negotiation(conn, negotiation_id, company_id, lock=True)
    if negotiation is None:
        raise not_found(f"negotiation {negotiation_id}")
    negotiation.ensure_open(now())
    terms = await storage.terms_on_table(conn, negotiation.id)
    assert terms is not None  # an open negotiation always has terms on the table
    return negotiation, terms


async def accept(
    conn: Connection,
    negotiation_id: uuid.UUID,
    actor: Actor,
    terms_id: uuid.UUID,
    settings: ContractsSettings,
    correlation_id: str | None,
) -> None:
    """Accept the terms on the table; with the other side's acceptance they make a contract.
    Terms for more than the offer or the need still has are refused before anything is
    agreed."""
    peek = await storage.negotiation(conn, negotiation_id, actor.company_id)
    if peek is None:
        raise not_found(f"negotiation {negotiation_id}")
    await _heard_of(conn, [peek.offer_id, peek.need_id])
    listings = await storage.lock_listings(conn, [peek.offer_id, peek.need_id])
    negotiation, terms = await _open_negotiation(conn, negotiation_id, actor.company_id)
    side = negotiation.accept(actor.company_id, terms, terms_id, now())
    await _check_capacity(conn, negotiation, _ask(terms), listings, strict=True)
    terms = await storage.accept_terms(conn, terms.id, side)
    await storage.add_step(
        conn, negotiation.id, actor.company_id, actor.subject_id, actor.kind, "accepted", terms.id
    )
    if both_accepted(terms):
        await agree(conn, negotiation, terms, listings, correlation_id)
    else:
        await storage.set_negotiation(conn, negotiation.id, "open", _expiry(settings))


async def counter(
    conn: Connection,
    negotiation_id: uuid.UUID,
    actor: Actor,
    proposed: events.Terms,
    settings: ContractsSettings,
    correlation_id: str | None,
) -> None:
    """Put other terms on the table (they count as this side's acceptance)."""
    negotiation, on_table = await _open_negotiation(conn, negotiation_id, actor.company_id)
    side = negotiation.counter(actor.company_id, proposed, now())
    known = {
        listing.id: listing
        for listing in [
            await storage.listing(conn, negotiation.offer_id),
            await storage.listing(conn, negotiation.need_id),
        ]
        if listing is not None
    }
    await _check_capacity(conn, negotiation, _ask(proposed), known, strict=False)
    await storage.set_terms_status(conn, on_table.id, "superseded")
    new = await storage.insert_terms(
        conn,
        negotiation.id,
        side,
        quantity=proposed.quantity,
        unit=proposed.unit,
        price=proposed.price_per_unit_ore,
        delivery_from=proposed.delivery_from,
        delivery_until=proposed.delivery_until,
        transport=proposed.transport,
        schedule=proposed.schedule,
    )
    await storage.add_step(
        conn, negotiation.id, actor.company_id, actor.subject_id, actor.kind, "countered", new.id
    )
    await storage.set_negotiation(conn, negotiation.id, "open", _expiry(settings))
    await publish(
        conn,
        events.NegotiationCountered(**negotiation.facts(actor.company_id, new, now())),
        negotiation.id,
        correlation_id,
    )


async def decline(
    conn: Connection,
    negotiation_id: uuid.UUID,
    actor: Actor,
    reason: str | None,
    correlation_id: str | None,
) -> None:
    negotiation, on_table = await _open_negotiation(conn, negotiation_id, actor.company_id)
    negotiation.decline(actor.company_id, now())
    await storage.set_terms_status(conn, on_table.id, "declined")
    await storage.set_negotiation(conn, negotiation.id, "declined")
    await storage.add_step(
        conn,
        negotiation.id,
        actor.company_id,
        actor.subject_id,
        actor.kind,
        "declined",
        on_table.id,
        reason,
    )
    await publish(
        conn,
        events.NegotiationDeclined(**negotiation.facts(actor.company_id, None, now())),
        negotiation.id,
        correlation_id,
    )


def _expiry(settings: ContractsSettings) -> datetime:
    return now() + timedelta(hours=settings.negotiation_expiry_hours)


async def agree(
    conn: Connection,
    negotiation: Negotiation,
    terms: Terms,
    listings: dict[uuid.UUID, capacity.Listing],
    correlation_id: str | None,
) -> Contract:
    """Both sides accepted these terms: the contract and ``contract.agreed``; then every
    other open negotiation on the offer or the need that now asks for more than remains is
    cut to what remains, or withdrawn when nothing useful remains, and both sides are told."""
    await storage.set_terms_status(conn, terms.id, "agreed")
    await storage.set_negotiation(conn, negotiation.id, "agreed")
    await storage.mark_proposal_agreed(conn, negotiation.id)
    contract = await storage.insert_contract(conn, negotiation, terms)
    await storage.add_step(
        conn, negotiation.id, None, None, None, "agreed", terms.id, f"contract {contract.id}"
    )
    await publish(
        conn,
        events.ContractAgreed(
            contract_id=contract.id,
            proposal_id=negotiation.id,
            offer_id=contract.offer_id,
            need_id=contract.need_id,
            supplier_company_id=contract.supplier_company_id,
            receiver_company_id=contract.receiver_company_id,
            quantity=contract.quantity,
            unit=contract.unit,
            price_per_unit_ore=contract.price_per_unit_ore,
            agreed_at=contract.agreed_at,
            title=contract.title,
            terms=terms.as_event(),
            supplier_sharing=await storage.sharing(conn, contract.supplier_company_id),
            receiver_sharing=await storage.sharing(conn, contract.receiver_company_id),
        ),
        contract.id,
        correlation_id,
    )
    others = await storage.open_negotiations_on(
        conn, negotiation.offer_id, negotiation.need_id, negotiation.id
    )
    for other in others:
        await _fit_to_what_remains(conn, other, contract, listings, correlation_id)
    return contract


async def _fit_to_what_remains(
    conn: Connection,
    negotiation: Negotiation,
    contract: Contract,
    listings: dict[uuid.UUID, capacity.Listing],
    correlation_id: str | None,
) -> None:
    on_table = await storage.terms_on_table(conn, negotiation.id)
    if on_table is None:
        return
    ask = _ask(on_table)
    fits, short = on_table.quantity, None
    for listing_id in (negotiation.offer_id, negotiation.need_id):
        listing = listings.get(listing_id)
        if listing is None:
            continue  # not the listing the contract took from
        can = await _fitting(conn, listing, ask)
        if can < fits:
            fits, short = can, listing
    if short is None:
        return
    at = now()
    await storage.set_terms_status(conn, on_table.id, "superseded")
    if not capacity.useful(fits, on_table.quantity):
        await storage.set_negotiation(conn, negotiation.id, "withdrawn")
        await storage.add_step(
            conn,
            negotiation.id,
            None,
            None,
            None,
            "withdrawn",
            None,
            f"contract {contract.id} took what {_what(short)} had",
        )
        await publish(
            conn,
            events.NegotiationWithdrawn(
                **negotiation.facts(None, None, at),
                listing_id=short.id,
                asked_quantity=on_table.quantity,
                remaining_quantity=fits,
                unit=on_table.unit,
                by_contract_id=contract.id,
            ),
            negotiation.id,
            correlation_id,
        )
        return
    cut = await storage.insert_terms(
        conn,
        negotiation.id,
        "exchange",
        quantity=fits,
        unit=on_table.unit,
        price=on_table.price_per_unit_ore,
        delivery_from=on_table.delivery_from,
        delivery_until=on_table.delivery_until,
        transport=on_table.transport,
        schedule=on_table.schedule,
    )
    in_proposal_unit = convert(fits, on_table.unit, negotiation.proposal_unit)
    if in_proposal_unit is not None:
        await storage.cut_proposal(conn, negotiation.id, in_proposal_unit)
    await storage.add_step(
        conn,
        negotiation.id,
        None,
        None,
        None,
        "reduced",
        cut.id,
        f"cut from {format_quantity(on_table.quantity, on_table.unit)} to "
        f"{format_quantity(fits, on_table.unit)}: contract {contract.id} took part of "
        f"{_what(short)}",
    )
    await publish(
        conn,
        events.NegotiationReduced(
            **negotiation.facts(None, cut, at),
            listing_id=short.id,
            asked_quantity=on_table.quantity,
            by_contract_id=contract.id,
        ),
        negotiation.id,
        correlation_id,
    )


async def expire_negotiations(conn: Connection) -> int:
    """Expire one batch of negotiations nobody answered in time; how many."""
    expiring = await storage.expiring_negotiations(conn)
    for negotiation in expiring:
        await storage.close_open_terms(conn, negotiation.id, "expired")
        await storage.set_negotiation(conn, negotiation.id, "expired")
        await storage.add_step(conn, negotiation.id, None, None, None, "expired", None)
        await publish(
            conn,
            events.NegotiationExpired(**negotiation.facts(None, None, now())),
            negotiation.id,
            None,
        )
    return len(expiring)


# --- What the listings service says ------------------------------------------------------


async def listing_changed(conn: Connection, payload: events.Payload, at: datetime) -> None:
    if isinstance(payload, events.ListingFacts):
        await storage.keep_listing(conn, payload, at)
    elif isinstance(payload, events.ListingWithdrawn):
        await storage.withdraw_listing(conn, payload.listing_id, at)


async def company_details_changed(
    conn: Connection, company: events.CompanyDetailsChanged, settings: ContractsSettings
) -> None:
    """Remember the company's details; invoices that waited for them are issued now."""
    await storage.keep_company(conn, company)
    for waiting in await invoice_store.waiting_invoices_of(conn, company.company_id):
        await _issue(conn, waiting, settings)


async def company_changed(conn: Connection, company: events.CompanyChanged) -> None:
    """Remember whether the company shares its terms with partners, for ``contract.agreed``."""
    await storage.keep_sharing(conn, company)


async def reservation_refused(
    conn: Connection, refused: events.ListingReservationRefused, correlation_id: str | None
) -> None:
    contract = await storage.contract(conn, refused.contract_id, None, lock=True)
    if contract is None or contract.status != "active":
        return
    own = refused.reason_detail
    await cancel(
        conn,
        contract,
        None,
        f"the listings could not reserve it: {refused.reason}",
        correlation_id,
        detail=events.ReasonDetail(
            code="contract.reservation_refused",
            params={} if own is None else {"refusal": own.model_dump(mode="json")},
        ),
    )


# --- Contracts and deliveries ------------------------------------------------------------


async def _contract(
    conn: Connection, contract_id: uuid.UUID, company_id: uuid.UUID | None
) -> Contract:
    contract = await storage.contract(conn, contract_id, company_id, lock=True)
    if contract is None:
        raise not_found(f"contract {contract_id}")
    return contract


async def record_delivery(
    conn: Connection,
    contract_id: uuid.UUID,
    actor: Actor,
    quantity: Decimal,
    unit: str | None,
    delivered_on: date,
    note: str | None,
    *,
    carrier: dict[str, Any] | None,
    measurement: str | None,
    weighbridge_ticket: str | None,
    declaration: Declaration | None,
    correlation_id: str | None,
) -> Delivery:
    contract = await _contract(conn, contract_id, actor.company_id)
    deliveries = await storage.deliveries_of(conn, contract.id)
    contract.record(
        actor.company_id, quantity, unit or contract.unit, delivered_on, today(), deliveries
    )
    if contract.hazardous and declaration is None:
        raise Refused(
            "invalid",
            "The request is not valid",
            f"{contract.title} is hazardous waste: record the delivery with the data of its "
            "declaration (avfallsforskriften kapittel 11)",
            field="declaration",
            message="required for hazardous waste",
            code="delivery.declaration_required",
        )
    delivery = await storage.insert_delivery(
        conn,
        contract.id,
        quantity,
        unit or contract.unit,
        delivered_on,
        note,
        actor.subject_id,
        carrier=carrier,
        measurement=measurement,
        weighbridge_ticket=weighbridge_ticket,
        declaration=None if declaration is None else declaration.as_json(),
    )
    await publish(
        conn,
        events.DeliveryRecorded(**delivery.facts(contract, note, now())),
        contract.id,
        correlation_id,
    )
    return delivery


async def _answerable(
    conn: Connection, delivery_id: uuid.UUID, actor: Actor, dispute: bool
) -> tuple[Delivery, Contract]:
    delivery = await storage.delivery(conn, delivery_id, actor.company_id, lock=True)
    if delivery is None:
        raise not_found(f"delivery {delivery_id}")
    contract = await _contract(conn, delivery.contract_id, None)
    delivery.answer(actor.company_id, contract, dispute)
    return delivery, contract


async def confirm_delivery(
    conn: Connection,
    delivery_id: uuid.UUID,
    actor: Actor,
    settings: ContractsSettings,
    correlation_id: str | None,
) -> Delivery:
    """The receiver confirms: the delivery is invoiced and counted; a hazardous one only with
    its declaration and the receiver's permit."""
    delivery, contract = await _answerable(conn, delivery_id, actor, dispute=False)
    if contract.hazardous:
        receiver = await storage.company(conn, contract.receiver_company_id)
        problem = Declaration.problem_with(delivery.declaration)
        if problem is None and not permit_verified(receiver, contract.ewc_code or ""):
            problem = (
                "the receiver has no permit for this waste code that the park has verified; "
                "it states its permit in its company profile, and the park verifies it"
            )
        if problem is not None:
            raise Refused(
                "conflict",
                "The declaration is not complete",
                f"a delivery of hazardous waste is confirmed only with its declaration: {problem}",
                field="declaration",
                message=problem,
                code="delivery.declaration_incomplete",
            )
    answered = await storage.answer_delivery(conn, delivery.id, "confirmed", actor.subject_id, None)
    await invoice_delivery(conn, contract, answered, settings)
    await impact.record(conn, contract, answered)
    await publish(
        conn,
        events.DeliveryConfirmed(**answered.facts(contract, answered.weighbridge_note, now())),
        contract.id,
        correlation_id,
    )
    deliveries = await storage.deliveries_of(conn, contract.id)
    if contract.completed_by(deliveries):
        ended = await storage.end_contract(
            conn,
            contract.id,
            "completed",
            "every delivery confirmed",
            detail=events.ReasonDetail(code="contract.completed"),
        )
        assert ended.ended_at is not None
        await publish(
            conn, contract.completed_event(deliveries, ended.ended_at), contract.id, correlation_id
        )
    return answered


async def dispute_delivery(
    conn: Connection,
    delivery_id: uuid.UUID,
    actor: Actor,
    reason: str,
    correlation_id: str | None,
) -> Delivery:
    """The receiver disputes a delivery: not invoiced, not counted, and its quantity may be
    recorded again. Disputed after confirmation, its invoice is credited in full and it
    leaves the impact ledger; a completed contract runs again."""
    delivery, contract = await _answerable(conn, delivery_id, actor, dispute=True)
    was_confirmed = delivery.status == "confirmed"
    answered = await storage.answer_delivery(
        conn, delivery.id, "disputed", actor.subject_id, reason
    )
    if was_confirmed:
        await invoice_store.reverse_impact(conn, delivery.id)
        invoice = await invoice_store.invoice_of_delivery(conn, delivery.id)
        if invoice is not None:
            await credit(
                conn,
                invoice,
                f"delivery disputed after invoicing: {reason}",
                correlation_id,
                detail=events.ReasonDetail(code="credit_note.delivery_disputed"),
                typed=reason,
            )
        await storage.reopen_contract(
            conn,
            contract.id,
            f"a confirmed delivery was disputed: {reason}",
            events.ReasonDetail(code="contract.reopened_by_dispute"),
            reason,
        )
    await publish(
        conn,
        events.DeliveryDisputed(**answered.facts(contract, reason, now())),
        contract.id,
        correlation_id,
    )
    return answered


async def cancel_contract(
    conn: Connection,
    contract_id: uuid.UUID,
    actor: Actor,
    reason: str,
    correlation_id: str | None,
) -> Contract:
    contract = await _contract(conn, contract_id, actor.company_id)
    contract.cancel(actor.company_id)
    return await cancel(
        conn,
        contract,
        actor.company_id,
        reason,
        correlation_id,
        detail=events.ReasonDetail(code="contract.cancelled_by_party"),
        typed=reason,
    )


async def cancel(
    conn: Connection,
    contract: Contract,
    by: uuid.UUID | None,
    reason: str,
    correlation_id: str | None,
    *,
    detail: events.ReasonDetail,
    typed: str | None = None,
) -> Contract:
    """Cancel an active contract: what was delivered or awaits an answer stays held, the
    rest goes back to both listings (``contract.cancelled``). ``reason`` is the English
    text, ``detail`` the exchange's part of it as a code, ``typed`` what a person wrote."""
    deliveries = await storage.deliveries_of(conn, contract.id)
    kept = contract.quantity - contract.undelivered(deliveries)
    ended = await storage.end_contract(
        conn, contract.id, "cancelled", reason, kept, detail=detail, typed=typed
    )
    assert ended.ended_at is not None
    await publish(
        conn,
        contract.cancelled_event(deliveries, by, reason, ended.ended_at, detail, typed),
        contract.id,
        correlation_id,
    )
    return ended


# --- Invoices and credit notes --------------------------------------------------------------


async def invoice_delivery(
    conn: Connection, contract: Contract, delivery: Delivery, settings: ContractsSettings
) -> Invoice | None:
    """A confirmed delivery with a price is invoiced by the payee (the seller): the receiver
    pays the supplier, or for a gate fee (a negative price) the supplier pays the receiver.
    It is issued at once when both parties' details are known, else it waits for them."""
    price = contract.price_per_unit_ore
    if price == 0:
        return None
    quantity = contract.in_unit(delivery.quantity, delivery.unit)
    payer, payee = (
        (contract.receiver_company_id, contract.supplier_company_id)
        if price > 0
        else (contract.supplier_company_id, contract.receiver_company_id)
    )
    seller = await storage.company(conn, payee)
    figures = billing.amounts(
        quantity,
        abs(price),
        seller.vat_registered if seller else True,
        settings.platform_fee_percent,
    )
    kind = "" if price > 0 else "Gate fee: "
    invoice = await invoice_store.insert_invoice(
        conn,
        invoice_store.NewInvoice(
            id=uuid.uuid4(),
            delivery_id=delivery.id,
            contract_id=contract.id,
            payer_company_id=payer,
            payee_company_id=payee,
            description=f"{kind}{contract.title}, {format_quantity(quantity, contract.unit)} "
            f"delivered {delivery.delivered_on.isoformat()}",
            quantity=quantity,
            unit=contract.unit,
            unit_price_ore=abs(price),
            net_ore=figures.net,
            mva_ore=figures.vat,
            total_ore=figures.total,
            platform_fee_ore=figures.fee,
            status="waiting",
            delivery_date=delivery.delivered_on,
            gate_fee=price < 0,
        ),
    )
    if invoice is None:
        return None  # the delivery has its invoice already
    return await _issue(conn, invoice, settings)


async def _issue(conn: Connection, invoice: Invoice, settings: ContractsSettings) -> Invoice:
    """Number and date a waiting invoice and queue it for Stripe, if both parties' details
    are there; else say what it waits for."""
    seller = await storage.company(conn, invoice.payee_company_id)
    buyer = await storage.company(conn, invoice.payer_company_id)
    why = billing.waiting_for(seller, buyer)
    if why is not None or seller is None or buyer is None:
        await invoice_store.wait_for_details(conn, invoice.id, why or "waiting")
        return invoice
    figures = billing.amounts(
        invoice.quantity,
        invoice.unit_price_ore,
        seller.vat_registered,
        settings.platform_fee_percent,
    )
    number = await invoice_store.next_number(conn, seller.company_id)
    issued_on, due = billing.issue_dates(today())
    return await invoice_store.number_invoice(
        conn,
        invoice.id,
        number=number,
        issue_date=issued_on,
        due_date=due,
        kid=billing.kid(number),
        seller=seller.snapshot(),
        buyer=buyer.snapshot(),
        vat_percent=figures.vat_percent,
        net_ore=figures.net,
        mva_ore=figures.vat,
        total_ore=figures.total,
    )


async def credit(
    conn: Connection,
    invoice: Invoice,
    reason: str,
    correlation_id: str | None,
    *,
    detail: events.ReasonDetail,
    typed: str | None = None,
    voided_at_stripe: bool = False,
) -> None:
    """Annul an invoice in full: a credit note in the seller's series (made at Stripe too
    when Stripe has the invoice open or paid), ``invoice.voided`` and ``credit_note.issued``.
    An invoice that was never numbered is simply void."""
    if invoice.credited_at is not None or invoice.status in ("void", "credited"):
        return
    at = now()
    if not invoice.numbered:
        await invoice_store.mark_credited(conn, invoice.id, "void")
    else:
        at_stripe = invoice.stripe_invoice_id is not None and not voided_at_stripe
        await invoice_store.mark_credited(
            conn, invoice.id, "void" if voided_at_stripe else "credited"
        )
        number = await invoice_store.next_number(conn, invoice.payee_company_id)
        note = await invoice_store.insert_credit_note(
            conn,
            invoice,
            number,
            today(),
            reason,
            "queued" if at_stripe else "not_needed",
            detail,
            typed,
        )
        assert invoice.number is not None
        await publish(
            conn,
            events.CreditNoteIssued(
                credit_note_id=note.id,
                invoice_id=invoice.id,
                delivery_id=invoice.delivery_id,
                contract_id=invoice.contract_id,
                payer_company_id=invoice.payer_company_id,
                payee_company_id=invoice.payee_company_id,
                number=note.number,
                invoice_number=invoice.number,
                amount_ore=note.total_ore,
                reason=reason,
                reason_detail=detail,
                reason_typed=typed,
                at=at,
            ),
            invoice.id,
            correlation_id,
        )
    await publish(
        conn,
        events.InvoiceVoided(**invoice_facts(invoice, at), reason=reason),
        invoice.id,
        correlation_id,
    )


def invoice_facts(invoice: Invoice, at: datetime) -> dict[str, Any]:
    """The fields of an ``InvoiceFacts`` event about ``invoice``."""
    return {
        "invoice_id": invoice.id,
        "delivery_id": invoice.delivery_id,
        "contract_id": invoice.contract_id,
        "payer_company_id": invoice.payer_company_id,
        "payee_company_id": invoice.payee_company_id,
        "amount_ore": invoice.total_ore,
        "currency": "nok",
        "at": at,
        "number": invoice.number,
        "kid": invoice.kid,
        "due_date": invoice.due_date,
    }
