"""Invoices a Norwegian company can book and pay (bokføringsforskriften § 5-1-1 and the MVA
rules), and the credit notes that annul them.

The seller is the payee: the supplier, or for a gate fee (a negative price) the receiver,
who sells the service of taking the material. Each seller numbers its invoices and credit
notes in one gapless series. MVA is 25 % when the seller is registered for VAT, and none
otherwise. Payment is to the seller's account with a KID (MOD10). The park operator's fee is
a charge to the seller, taken from its payout: it is shown, never added to what the buyer
pays."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stdnum import luhn
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.no import kontonr, orgnr

from shared import reasons

MVA_RATE = Decimal("0.25")  # Norwegian VAT, general rate (merverdiavgiftsloven § 5-1)
DAYS_UNTIL_DUE = 14


def ore(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Amounts:
    """What an invoice line comes to, in øre."""

    net: int
    vat_percent: Decimal
    vat: int
    total: int
    fee: int


def amounts(
    quantity: Decimal, unit_price_ore: int, vat_registered: bool, fee_percent: float
) -> Amounts:
    """Net (quantity times unit price), MVA on it when the seller is registered, the total, and
    the platform fee (a share of the net), each rounded half up to the øre."""
    net = ore(quantity * unit_price_ore)
    rate = MVA_RATE if vat_registered else Decimal(0)
    vat = ore(net * rate)
    fee = ore(net * Decimal(str(fee_percent)) / 100)
    return Amounts(net, rate * 100, vat, net + vat, fee)


def kid(number: int) -> str:
    """The KID of an invoice: its number, seven digits or more, and a MOD10 check digit."""
    digits = f"{number:07d}"
    return digits + luhn.calc_check_digit(digits)


def valid_kid(text: str) -> bool:
    return text.isdigit() and 2 <= len(text) <= 25 and luhn.is_valid(text)


def bank_account(text: str) -> str:
    """A Norwegian account number (11 digits, MOD11), compact; ValueError when it is not."""
    try:
        return str(kontonr.validate(text))
    except StdnumValidationError as exc:
        raise ValueError(
            f"{text!r} is not a Norwegian bank account number (11 digits whose last is a "
            "MOD11 check digit, e.g. 8601 11 17947)"
        ) from exc


def format_account(number: str) -> str:
    return str(kontonr.format(number))


@dataclass(frozen=True)
class Party:
    """A company's legal details as the exchange knows them (from the listings service)."""

    company_id: uuid.UUID
    name: str
    org_number: str
    street: str | None
    postcode: str | None
    city: str | None
    country: str
    vat_registered: bool
    bank_account: str | None
    language: str
    permits: tuple[str, ...] = ()

    @property
    def vat_id(self) -> str | None:
        """``NO<orgnr>MVA`` when registered for VAT."""
        return f"NO{self.org_number}MVA" if self.vat_registered else None

    @property
    def org_display(self) -> str:
        """``921 277 474 MVA``, or without MVA when the company is not VAT-registered."""
        shown = str(orgnr.format(self.org_number))
        return f"{shown} MVA" if self.vat_registered else shown

    def missing(self, as_seller: bool) -> list[str]:
        """What a legal invoice needs and this company has not given."""
        lacking = [] if self.street and self.postcode and self.city else ["address"]
        if as_seller and not self.bank_account:
            lacking.append("bank_account")
        return lacking

    def snapshot(self) -> dict[str, Any]:
        """As it is printed on a document (kept with it: a later change does not alter it)."""
        return {
            "company_id": str(self.company_id),
            "name": self.name,
            "org_number": self.org_number,
            "street": self.street,
            "postcode": self.postcode,
            "city": self.city,
            "country": self.country,
            "vat_registered": self.vat_registered,
            "bank_account": self.bank_account,
            "language": self.language,
        }

    @classmethod
    def of(cls, snapshot: dict[str, Any]) -> Party:
        return cls(
            company_id=uuid.UUID(str(snapshot["company_id"])),
            name=snapshot["name"],
            org_number=snapshot["org_number"],
            street=snapshot.get("street"),
            postcode=snapshot.get("postcode"),
            city=snapshot.get("city"),
            country=snapshot.get("country") or "NO",
            vat_registered=bool(snapshot.get("vat_registered")),
            bank_account=snapshot.get("bank_account"),
            language=snapshot.get("language") or "nb",
        )


def waiting_for(seller: Party | None, buyer: Party | None) -> str | None:
    """Why an invoice cannot be issued yet, or None when both parties' details are there."""
    gaps = []
    if seller is None:
        gaps.append("the seller's company details")
    else:
        gaps += [f"the seller's {g.replace('_', ' ')}" for g in seller.missing(as_seller=True)]
    if buyer is None:
        gaps.append("the buyer's company details")
    else:
        gaps += [f"the buyer's {g}" for g in buyer.missing(as_seller=False)]
    return f"waiting for {', '.join(gaps)} (company profile)" if gaps else None


@dataclass(frozen=True)
class Invoice:
    """A row of ``invoices``: one per confirmed delivery with a price."""

    id: uuid.UUID
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    payer_company_id: uuid.UUID
    payee_company_id: uuid.UUID
    description: str
    quantity: Decimal
    unit: str
    unit_price_ore: int
    net_ore: int
    mva_ore: int
    total_ore: int
    platform_fee_ore: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    stripe_invoice_id: str | None
    created_at: datetime
    issued_at: datetime | None
    paid_at: datetime | None
    number: int | None
    issue_date: date | None
    delivery_date: date | None
    due_date: date | None
    kid: str | None
    vat_percent: Decimal | None
    seller: dict[str, Any] | None
    buyer: dict[str, Any] | None
    gate_fee: bool
    credited_at: datetime | None

    @property
    def numbered(self) -> bool:
        return self.number is not None

    def seller_party(self) -> Party:
        assert self.seller is not None
        return Party.of(self.seller)

    def buyer_party(self) -> Party:
        assert self.buyer is not None
        return Party.of(self.buyer)

    def can_be_credited(self) -> bool:
        return self.numbered and self.credited_at is None


def issue_dates(today: date) -> tuple[date, date]:
    """Issue date and due date of an invoice issued ``today``."""
    return today, today + timedelta(days=DAYS_UNTIL_DUE)


@dataclass(frozen=True)
class CreditNote:
    """A row of ``credit_notes``: annuls an invoice in full."""

    id: uuid.UUID
    invoice_id: uuid.UUID
    number: int
    issue_date: date
    reason: str
    net_ore: int
    mva_ore: int
    total_ore: int
    status: str
    stripe_credit_note_id: str | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    # reason as a code with its parameters (shared/reasons.py) and what a person typed with
    # it; None on credit notes made before reasons had codes
    reason_detail: dict[str, Any] | None = None
    reason_typed: str | None = None

    def reason_in(self, language: str) -> str:
        """The reason in ``language`` (``nb`` or ``en``) from its code, with what a person
        wrote as written; a credit note from before reasons had codes has its English."""
        if not self.reason_detail or not reasons.known(str(self.reason_detail.get("code"))):
            return self.reason
        said = reasons.render(
            str(self.reason_detail["code"]),
            self.reason_detail.get("params") or {},
            "nb" if language == "nb" else "en",
        )
        return f"{said}: {self.reason_typed}" if self.reason_typed else said
