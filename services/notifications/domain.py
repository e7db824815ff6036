"""Which events notify which company, and what each is told, in Norwegian bokmål and
English, with a link to the thing in the portal; whose a webhook endpoint is, and what it
may receive. No I/O here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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
    ListingPublished,
    ListingUpdated,
    ListingWithdrawn,
    NegotiationCountered,
    NegotiationDeclined,
    NegotiationExpired,
    NegotiationReduced,
    NegotiationWithdrawn,
    Payload,
    ReasonDetail,
    TradeProposed,
    TradeRetracted,
)
from shared.reasons import in_words, known
from shared.units import format_quantity

NOTE_NAMESPACE = uuid.UUID("0b7f5b56-2d55-4f0c-8a43-52f3b9d3c7a2")
LANGUAGES = ("nb", "en")


@dataclass(frozen=True)
class Text:
    """The same message in each language."""

    nb: str
    en: str

    def in_(self, language: str) -> str:
        return self.nb if language == "nb" else self.en


@dataclass(frozen=True)
class Note:
    id: uuid.UUID
    company_id: uuid.UUID
    title: Text
    body: Text
    link: str
    # What people wrote that the title and body quote as written (a listing's or trade's
    # title, a receiver's note), for a reader to mark as not to be translated.
    typed: tuple[str, ...] = ()


def note_id(event_id: uuid.UUID, company_id: uuid.UUID) -> uuid.UUID:
    """One note per event and company, whatever is redelivered."""
    return uuid.uuid5(NOTE_NAMESPACE, f"{event_id}/{company_id}")


def _nok(ore: int | Decimal) -> Text:
    amount = Decimal(ore) / 100
    en = f"NOK {amount:,.2f}"
    nb = f"kr {amount:,.2f}".replace(",", " ").replace(".", ",")
    return Text(nb, en)


def _amount(quantity: Decimal, unit: str) -> str:
    return format_quantity(quantity, unit)


def _notes(
    event_id: uuid.UUID,
    companies: list[uuid.UUID],
    title: Text,
    body: Text,
    link: str,
    typed: tuple[str | None, ...] = (),
) -> list[Note]:
    quoted = tuple(dict.fromkeys(t for t in typed if t))
    return [
        Note(note_id(event_id, c), c, title, body, link, quoted) for c in dict.fromkeys(companies)
    ]


def _other(supplier: uuid.UUID, receiver: uuid.UUID, by: uuid.UUID | None) -> list[uuid.UUID]:
    """The side that did not act (both sides when the exchange acted)."""
    if by is None:
        return [supplier, receiver]
    return [receiver if by == supplier else supplier]


def _proposed(event_id: uuid.UUID, p: TradeProposed) -> list[Note]:
    amount = _amount(p.quantity, p.unit)
    link = f"/negotiations/{p.proposal_id}"
    why = _why(p)
    origin = Text(
        "Fra parkens samlede plan. " if p.origin == "optimiser" else "",
        "From the park-wide plan. " if p.origin == "optimiser" else "",
    )
    return [
        Note(
            note_id(event_id, p.supplier_company_id),
            p.supplier_company_id,
            Text(f"En kjøper til tilbudet ditt: {p.title}", f"A buyer for your offer: {p.title}"),
            Text(
                f"{origin.nb}Børsen foreslår at dere leverer {amount}. Hvorfor: {why.nb}.",
                f"{origin.en}The exchange proposes that you supply {amount}. Why: {why.en}.",
            ),
            link,
            (p.title,),
        ),
        Note(
            note_id(event_id, p.receiver_company_id),
            p.receiver_company_id,
            Text(
                f"En leverandør til behovet ditt: {p.title}",
                f"A supplier for your need: {p.title}",
            ),
            Text(
                f"{origin.nb}Børsen foreslår at dere mottar {amount}. Hvorfor: {why.nb}.",
                f"{origin.en}The exchange proposes that you receive {amount}. Why: {why.en}.",
            ),
            link,
            (p.title,),
        ),
    ]


def _why(p: TradeProposed) -> Text:
    """The proposal's reasons in both languages, from their codes; a proposal from before
    reasons had codes shows its sentences as written, in both."""
    if not p.reason_details:
        return Text("; ".join(p.reasons), "; ".join(p.reasons))
    said = [in_words(d.code, d.params) for d in p.reason_details]
    return Text("; ".join(r.nb for r in said), "; ".join(r.en for r in said))


def _stated(reason: str, detail: ReasonDetail | None, typed: str | None) -> Text:
    """Why a contract ended or an invoice was credited, in both languages from its code,
    with what a person wrote as written; an event from before reasons had codes gives its
    English text, in both (so does one with a code this service does not know yet)."""
    if detail is None or not known(detail.code):
        return Text(reason, reason)
    said = in_words(detail.code, detail.params)
    if not typed:
        return Text(said.nb, said.en)
    return Text(f"{said.nb}: {typed}", f"{said.en}: {typed}")


def _retracted(event_id: uuid.UUID, r: TradeRetracted) -> list[Note]:
    why = (
        in_words(r.reason_detail.code, r.reason_detail.params)
        if r.reason_detail is not None
        else Text(r.reason, r.reason)
    )
    return _notes(
        event_id,
        [r.supplier_company_id, r.receiver_company_id],
        Text(f"Forslag trukket tilbake: {r.title}", f"Proposal withdrawn: {r.title}"),
        Text(
            f"Børsen foreslår ikke lenger denne handelen: {why.nb}.",
            f"The exchange no longer proposes this trade: {why.en}.",
        ),
        f"/negotiations/{r.proposal_id}",
        (r.title,),
    )


def _countered(event_id: uuid.UUID, n: NegotiationCountered) -> list[Note]:
    terms = n.terms
    assert terms is not None
    price = _nok(terms.price_per_unit_ore)
    amount = _amount(terms.quantity, terms.unit)
    return _notes(
        event_id,
        _other(n.supplier_company_id, n.receiver_company_id, n.by_company_id),
        Text(f"Motbud: {n.title}", f"Counter-offer: {n.title}"),
        Text(
            f"Den andre parten foreslår {amount} til {price.nb} per {terms.unit}. "
            "Godta, avslå eller gi et nytt motbud.",
            f"The other side proposes {amount} at {price.en} per {terms.unit}. "
            "Accept, decline or counter.",
        ),
        f"/negotiations/{n.negotiation_id}",
        (n.title,),
    )


def _declined(event_id: uuid.UUID, n: NegotiationDeclined) -> list[Note]:
    return _notes(
        event_id,
        _other(n.supplier_company_id, n.receiver_company_id, n.by_company_id),
        Text(f"Forhandling avslått: {n.title}", f"Negotiation declined: {n.title}"),
        Text(
            "Den andre parten avslo. Forhandlingen er avsluttet.",
            "The other side declined. The negotiation is over.",
        ),
        f"/negotiations/{n.negotiation_id}",
        (n.title,),
    )


def _expired(event_id: uuid.UUID, n: NegotiationExpired) -> list[Note]:
    return _notes(
        event_id,
        [n.supplier_company_id, n.receiver_company_id],
        Text(f"Forhandling utløpt: {n.title}", f"Negotiation expired: {n.title}"),
        Text(
            "Ingen svarte i tide, så forhandlingen er avsluttet.",
            "Nobody answered in time, so the negotiation is over.",
        ),
        f"/negotiations/{n.negotiation_id}",
        (n.title,),
    )


def _reduced(event_id: uuid.UUID, n: NegotiationReduced) -> list[Note]:
    terms = n.terms
    assert terms is not None
    asked, now = _amount(n.asked_quantity, terms.unit), _amount(terms.quantity, terms.unit)
    return _notes(
        event_id,
        [n.supplier_company_id, n.receiver_company_id],
        Text(f"Forhandling justert: {n.title}", f"Negotiation cut: {n.title}"),
        Text(
            f"En annen avtale tok en del av mengden, så det er bare {now} igjen. Børsen har satt "
            f"ned vilkårene fra {asked} til {now}; begge parter må godta på nytt.",
            f"Another contract took part of the quantity, so only {now} remain. The exchange "
            f"cut the terms from {asked} to {now}; both sides answer again.",
        ),
        f"/negotiations/{n.negotiation_id}",
        (n.title,),
    )


def _withdrawn(event_id: uuid.UUID, n: NegotiationWithdrawn) -> list[Note]:
    asked = _amount(n.asked_quantity, n.unit) if n.asked_quantity and n.unit else None
    return _notes(
        event_id,
        [n.supplier_company_id, n.receiver_company_id],
        Text(f"Forhandling trukket: {n.title}", f"Negotiation withdrawn: {n.title}"),
        Text(
            "En annen avtale tok det som var igjen"
            + (f" av de {asked} dere forhandlet om" if asked else "")
            + ", så børsen har avsluttet forhandlingen.",
            "Another contract took what was left"
            + (f" of the {asked} you were negotiating" if asked else "")
            + ", so the exchange ended the negotiation.",
        ),
        f"/negotiations/{n.negotiation_id}",
        (n.title,),
    )


def _completed(event_id: uuid.UUID, c: ContractCompleted) -> list[Note]:
    amount = _amount(c.delivered_quantity, c.unit)
    return _notes(
        event_id,
        [c.supplier_company_id, c.receiver_company_id],
        Text(f"Avtale fullført: {c.title}", f"Contract completed: {c.title}"),
        Text(
            f"Alle leveranser er bekreftet: {amount} i {c.deliveries} leveranse(r).",
            f"Every delivery is confirmed: {amount} in {c.deliveries} delivery(ies).",
        ),
        f"/contracts/{c.contract_id}",
        (c.title,),
    )


def _voided(event_id: uuid.UUID, i: InvoiceVoided) -> list[Note]:
    total = _nok(i.amount_ore)
    number = Text(f" nr. {i.number}", f" no. {i.number}") if i.number else Text("", "")
    return _notes(
        event_id,
        [i.payer_company_id, i.payee_company_id],
        Text("Faktura annullert", "Invoice void"),
        Text(
            f"Fakturaen{number.nb} på {total.nb} inkl. mva. er annullert; ingenting skyldes.",
            f"The invoice{number.en} of {total.en} incl. VAT is void; nothing is owed.",
        ),
        f"/invoices/{i.invoice_id}",
    )


def _credit_note(event_id: uuid.UUID, c: CreditNoteIssued) -> list[Note]:
    total = _nok(c.amount_ore)
    why = _stated(c.reason, c.reason_detail, c.reason_typed)
    return _notes(
        event_id,
        [c.payer_company_id, c.payee_company_id],
        Text(f"Kreditnota {c.number}", f"Credit note {c.number}"),
        Text(
            f"Kreditnota {c.number} krediterer faktura {c.invoice_number} med {total.nb} "
            f"inkl. mva.: {why.nb}.",
            f"Credit note {c.number} credits invoice {c.invoice_number} by {total.en} "
            f"incl. VAT: {why.en}.",
        ),
        f"/invoices/{c.invoice_id}",
        (c.reason_typed,),
    )


def _agreed(event_id: uuid.UUID, c: ContractAgreed) -> list[Note]:
    title = c.title or "handel"
    price = _nok(c.price_per_unit_ore or 0)
    amount = _amount(c.quantity, c.unit)
    return _notes(
        event_id,
        [c.supplier_company_id, c.receiver_company_id],
        Text(f"Avtale inngått: {title}", f"Contract agreed: {c.title or 'trade'}"),
        Text(
            f"Begge parter godtok {amount} til {price.nb} per {c.unit}.",
            f"Both sides accepted {amount} at {price.en} per {c.unit}.",
        ),
        f"/contracts/{c.contract_id}",
        (c.title,),
    )


def _cancelled(event_id: uuid.UUID, c: ContractCancelled) -> list[Note]:
    why = _stated(c.reason, c.reason_detail, c.reason_typed)
    return _notes(
        event_id,
        _other(c.supplier_company_id, c.receiver_company_id, c.by_company_id),
        Text("Avtale kansellert", "Contract cancelled"),
        Text(f"Avtalen er kansellert: {why.nb}.", f"The contract is cancelled: {why.en}."),
        f"/contracts/{c.contract_id}",
        (c.reason_typed,),
    )


def _recorded(event_id: uuid.UUID, d: DeliveryRecorded) -> list[Note]:
    amount = _amount(d.quantity, d.unit)
    return _notes(
        event_id,
        [d.receiver_company_id],
        Text(f"Levering å bekrefte: {d.title}", f"Delivery to confirm: {d.title}"),
        Text(
            f"Leverandøren registrerte {amount} levert {d.delivered_on}. Bekreft eller bestrid.",
            f"The supplier recorded {amount} delivered on {d.delivered_on}. Confirm or dispute.",
        ),
        f"/contracts/{d.contract_id}",
        (d.title,),
    )


def _confirmed(event_id: uuid.UUID, d: DeliveryConfirmed) -> list[Note]:
    amount = _amount(d.quantity, d.unit)
    return _notes(
        event_id,
        [d.supplier_company_id],
        Text(f"Levering bekreftet: {d.title}", f"Delivery confirmed: {d.title}"),
        Text(
            f"Mottakeren bekreftet {amount} levert {d.delivered_on}.",
            f"The receiver confirmed {amount} delivered on {d.delivered_on}.",
        ),
        f"/contracts/{d.contract_id}",
        (d.title,),
    )


def _disputed(event_id: uuid.UUID, d: DeliveryDisputed) -> list[Note]:
    amount = _amount(d.quantity, d.unit)
    return _notes(
        event_id,
        [d.supplier_company_id],
        Text(f"Levering bestridt: {d.title}", f"Delivery disputed: {d.title}"),
        Text(
            f"Mottakeren bestrider {amount} levert {d.delivered_on}: {d.note}.",
            f"The receiver disputes {amount} delivered on {d.delivered_on}: {d.note}.",
        ),
        f"/contracts/{d.contract_id}",
        (d.title, d.note),
    )


def _invoice(kind: str) -> Callable[[uuid.UUID, Any], list[Note]]:
    titles = {
        "issued": Text("Faktura sendt", "Invoice issued"),
        "paid": Text("Faktura betalt", "Invoice paid"),
        "payment_failed": Text("Betaling feilet", "Payment failed"),
    }
    bodies = {
        "issued": (
            "Fakturaen på {nb} inkl. mva. er sendt.",
            "The invoice of {en} incl. VAT is sent.",
        ),
        "paid": (
            "Fakturaen på {nb} inkl. mva. er betalt.",
            "The invoice of {en} incl. VAT is paid.",
        ),
        "payment_failed": (
            "Betalingen av fakturaen på {nb} inkl. mva. feilet; Stripe prøver igjen.",
            "Payment of the invoice of {en} incl. VAT failed; Stripe will try again.",
        ),
    }

    def notes(event_id: uuid.UUID, i: Any) -> list[Note]:
        total = _nok(i.amount_ore)
        nb, en = bodies[kind]
        return _notes(
            event_id,
            [i.payer_company_id, i.payee_company_id],
            titles[kind],
            Text(nb.format(nb=total.nb), en.format(en=total.en)),
            f"/invoices/{i.invoice_id}",
        )

    return notes


def _expiring(event_id: uuid.UUID, e: ListingExpiring) -> list[Note]:
    kind = Text("tilbud", "offer") if e.kind == "offer" else Text("behov", "need")
    days = Text(
        "i dag"
        if e.days_left == 0
        else "i morgen"
        if e.days_left == 1
        else f"om {e.days_left} dager",
        "today"
        if e.days_left == 0
        else "tomorrow"
        if e.days_left == 1
        else f"in {e.days_left} days",
    )
    return _notes(
        event_id,
        [e.company_id],
        Text(f"Utløper snart: {e.title}", f"Ending soon: {e.title}"),
        Text(
            f"Ditt {kind.nb} er åpent til {e.available_until.isoformat()} ({days.nb}). "
            "Forleng det om det fortsatt gjelder.",
            f"Your {kind.en} is open until {e.available_until.isoformat()} ({days.en}). "
            "Extend it if it still stands.",
        ),
        f"/listings/{e.listing_id}",
        (e.title,),
    )


ROUTES: dict[type[Payload], Callable[[uuid.UUID, Any], list[Note]]] = {
    TradeProposed: _proposed,
    TradeRetracted: _retracted,
    NegotiationCountered: _countered,
    NegotiationDeclined: _declined,
    NegotiationExpired: _expired,
    NegotiationReduced: _reduced,
    NegotiationWithdrawn: _withdrawn,
    ContractAgreed: _agreed,
    ContractCompleted: _completed,
    ContractCancelled: _cancelled,
    DeliveryRecorded: _recorded,
    DeliveryConfirmed: _confirmed,
    DeliveryDisputed: _disputed,
    InvoiceIssued: _invoice("issued"),
    InvoicePaid: _invoice("paid"),
    InvoicePaymentFailed: _invoice("payment_failed"),
    InvoiceVoided: _voided,
    CreditNoteIssued: _credit_note,
    ListingExpiring: _expiring,
}


def notes_for(event_id: uuid.UUID, payload: Payload) -> list[Note]:
    """What each concerned company is told of this event (nothing for others)."""
    return ROUTES[type(payload)](event_id, payload)


# --- Webhook endpoints' owners -------------------------------------------------------------

COMPANY_EVENT_TYPES = frozenset(kind.event_type for kind in ROUTES)
PARTNER_EVENT_TYPES = frozenset(
    kind.event_type for kind in (ListingPublished, ListingUpdated, ListingWithdrawn)
)


@dataclass(frozen=True)
class Owner:
    """Whose an endpoint is: a company's, or a partner key's."""

    company_id: uuid.UUID | None = None
    partner_key_id: uuid.UUID | None = None

    @property
    def receivable(self) -> frozenset[str]:
        """The event types this owner may subscribe to."""
        return COMPANY_EVENT_TYPES if self.company_id is not None else PARTNER_EVENT_TYPES
