"""A negotiation over one proposal: the terms on the table, who has accepted them, and the
moves each side may make (accept, counter, decline) until both accept the same terms, it is
declined, it expires, or the exchange withdraws it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from services.contracts.domain.refusals import Refused, not_found
from shared import events
from shared.units import convert, format_quantity

Side = Literal["supplier", "receiver"]
NegotiationStatus = Literal["open", "agreed", "declined", "expired", "withdrawn"]


@dataclass(frozen=True)
class Terms:
    """One set of terms put on the table (a row of ``terms``)."""

    id: uuid.UUID
    negotiation_id: uuid.UUID
    version: int
    proposed_by: str
    quantity: Decimal
    unit: str
    price_per_unit_ore: int | None
    delivery_from: date | None
    delivery_until: date | None
    transport: str
    schedule: str
    supplier_accepted_at: datetime | None
    receiver_accepted_at: datetime | None
    status: str
    created_at: datetime

    def accepted_by(self, side: Side) -> bool:
        return (
            self.supplier_accepted_at if side == "supplier" else self.receiver_accepted_at
        ) is not None

    def as_event(self) -> events.Terms | None:
        """The terms as events carry them; None until they have a price."""
        if self.price_per_unit_ore is None:
            return None
        return events.Terms(
            quantity=self.quantity,
            unit=self.unit,
            price_per_unit_ore=self.price_per_unit_ore,
            delivery_from=self.delivery_from,
            delivery_until=self.delivery_until,
            transport=self.transport,
            schedule=self.schedule,
        )


@dataclass(frozen=True)
class Step:
    """One line of the audit trail: who did what, when, with which terms."""

    id: int
    negotiation_id: uuid.UUID
    at: datetime
    company_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    actor_kind: str | None
    action: str
    terms_id: uuid.UUID | None
    note: str | None


@dataclass(frozen=True)
class Negotiation:
    """A negotiation with what its proposal says (a row of ``negotiations`` joined to its
    proposal)."""

    id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    status: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    offer_id: uuid.UUID
    need_id: uuid.UUID
    title: str
    ewc_code: str | None
    resource_class: str | None
    reasons: list[str]
    value: dict[str, Any] | None
    origin: str
    proposal_unit: str

    def side_of(self, company_id: uuid.UUID) -> Side:
        if company_id == self.supplier_company_id:
            return "supplier"
        if company_id == self.receiver_company_id:
            return "receiver"
        raise not_found(f"negotiation {self.id}")

    def ensure_open(self, now: datetime) -> None:
        """Refused unless the negotiation is open and not past its expiry."""
        if self.status == "open" and self.expires_at < now:
            raise Refused(
                "conflict",
                "Expired",
                f"the negotiation expired at {self.expires_at.isoformat()}",
                code="negotiation.expired",
                expired_at=self.expires_at,
            )
        if self.status != "open":
            raise Refused(
                "conflict",
                "Not open",
                f"the negotiation is {self.status}",
                code="negotiation.not_open",
                status=self.status,
            )

    def accept(
        self, company_id: uuid.UUID, on_table: Terms, terms_id: uuid.UUID, now: datetime
    ) -> Side:
        """Which side accepts ``terms_id``; refused unless those are the priced terms on the
        table and that side has not accepted them yet."""
        side = self.side_of(company_id)
        self.ensure_open(now)
        if terms_id != on_table.id:
            cut = on_table.proposed_by == "exchange" and on_table.version > 1
            raise Refused(
                "conflict",
                "Not the terms on the table",
                "those terms are no longer on the table"
                + (
                    " (the exchange cut them to "
                    f"{format_quantity(on_table.quantity, on_table.unit)}, what the listing "
                    "still has)"
                    if cut
                    else ""
                )
                + f"; answer version {on_table.version} ({on_table.id})",
                field="terms_id",
                message="not the terms on the table",
                code="negotiation.terms_replaced",
                version=on_table.version,
            )
        if on_table.price_per_unit_ore is None:
            raise Refused(
                "conflict",
                "No price yet",
                "these terms have no price; counter with the price you want",
                code="negotiation.no_price",
            )
        if on_table.accepted_by(side):
            raise Refused(
                "conflict",
                "Already accepted",
                "you accepted these terms; the other side answers",
                code="negotiation.already_accepted",
            )
        return side

    def counter(self, company_id: uuid.UUID, proposed: events.Terms, now: datetime) -> Side:
        """Which side puts ``proposed`` on the table; refused when they measure something
        else than the proposal or describe a stream without its window."""
        side = self.side_of(company_id)
        self.ensure_open(now)
        if convert(Decimal(1), proposed.unit, self.proposal_unit) is None:
            raise Refused(
                "invalid",
                "The request is not valid",
                f"{proposed.unit} cannot be converted to the proposal's {self.proposal_unit}",
                field="unit",
                message=f"must measure what {self.proposal_unit} does",
                code="negotiation.unit_mismatch",
                unit=proposed.unit,
                proposal_unit=self.proposal_unit,
            )
        if proposed.schedule != "once" and (
            proposed.delivery_from is None or proposed.delivery_until is None
        ):
            raise Refused(
                "invalid",
                "The request is not valid",
                f"a {proposed.schedule} stream is delivered over a window: give delivery_from "
                "and delivery_until",
                field="delivery_until",
                message="a stream needs its delivery window",
                code="negotiation.stream_window_missing",
            )
        return side

    def decline(self, company_id: uuid.UUID, now: datetime) -> Side:
        side = self.side_of(company_id)
        self.ensure_open(now)
        return side

    def facts(self, by: uuid.UUID | None, terms: Terms | None, at: datetime) -> dict[str, Any]:
        """The fields every negotiation event shares."""
        return {
            "negotiation_id": self.id,
            "supplier_company_id": self.supplier_company_id,
            "receiver_company_id": self.receiver_company_id,
            "title": self.title,
            "by_company_id": by,
            "terms": None if terms is None else terms.as_event(),
            "at": at,
        }


def both_accepted(terms: Terms) -> bool:
    return terms.supplier_accepted_at is not None and terms.receiver_accepted_at is not None


@dataclass(frozen=True)
class Proposal:
    """A trade the matcher proposed (a row of ``proposals``)."""

    id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    ewc_code: str | None
    resource_class: str | None
    title: str
    quantity: Decimal
    unit: str
    reasons: list[str]
    status: str
    proposed_at: datetime
    recorded_at: datetime
    value: dict[str, Any] | None
    origin: str
