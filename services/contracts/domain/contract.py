"""An agreed contract and its deliveries: the supplier records each delivery, the receiver
confirms or disputes it (also after it was invoiced); confirmed deliveries that reach the
contract's quantity complete it; either party may cancel it while it runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.contracts.domain.refusals import Refused, not_found
from shared import events
from shared.ewc import lookup
from shared.units import convert, format_quantity

MEASUREMENTS = ("weighbridge", "meter", "volume", "count", "estimate")


@dataclass(frozen=True)
class Contract:
    """A row of ``contracts``."""

    id: uuid.UUID
    negotiation_id: uuid.UUID
    terms_id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    title: str
    ewc_code: str | None
    resource_class: str | None
    quantity: Decimal
    unit: str
    price_per_unit_ore: int
    delivery_from: date | None
    delivery_until: date | None
    transport: str
    schedule: str
    value: dict[str, Any] | None
    status: str
    status_reason: str | None
    agreed_at: datetime
    ended_at: datetime | None
    kept_quantity: Decimal | None = None  # what a cancelled contract kept of its listings
    # status_reason as a code with its parameters ({"code", "params"}: shared/reasons.py)
    # and what a person typed with it; None on rows made before reasons had codes
    status_reason_detail: dict[str, Any] | None = None
    status_reason_typed: str | None = None

    @property
    def hazardous(self) -> bool:
        return self.ewc_code is not None and lookup(self.ewc_code).hazardous

    def ensure_party(self, company_id: uuid.UUID) -> None:
        if company_id not in (self.supplier_company_id, self.receiver_company_id):
            raise not_found(f"contract {self.id}")

    def ensure_active(self) -> None:
        if self.status != "active":
            raise Refused(
                "conflict",
                "Not active",
                f"the contract is {self.status}",
                code="contract.not_active",
                status=self.status,
            )

    def in_unit(self, quantity: Decimal, unit: str) -> Decimal:
        amount = convert(quantity, unit, self.unit)
        if amount is None:
            raise Refused(
                "invalid",
                "The request is not valid",
                f"{unit} cannot be converted to the contract's {self.unit}",
                field="unit",
                message=f"must measure what {self.unit} does",
                code="contract.unit_mismatch",
                unit=unit,
                contract_unit=self.unit,
            )
        return amount

    def sums(self, deliveries: list[Delivery]) -> tuple[Decimal, Decimal]:
        """Confirmed and still-to-answer quantities, in the contract's unit."""
        confirmed = pending = Decimal(0)
        for d in deliveries:
            amount = convert(d.quantity, d.unit, self.unit)
            assert amount is not None
            if d.status == "confirmed":
                confirmed += amount
            elif d.status == "recorded":
                pending += amount
        return confirmed, pending

    def record(
        self,
        company_id: uuid.UUID,
        quantity: Decimal,
        unit: str,
        delivered_on: date,
        today: date,
        deliveries: list[Delivery],
    ) -> Decimal:
        """The delivery's quantity in the contract's unit; refused unless the supplier records
        it on an active contract, once it happened, within what the contract has left."""
        self.ensure_party(company_id)
        if company_id != self.supplier_company_id:
            raise Refused(
                "forbidden",
                "Forbidden",
                "only the supplier records deliveries",
                code="delivery.supplier_only",
            )
        self.ensure_active()
        amount = self.in_unit(quantity, unit)
        if delivered_on > today:
            raise Refused(
                "invalid",
                "The request is not valid",
                "a delivery is recorded once it has happened",
                field="delivered_on",
                message="must not be in the future",
                code="delivery.in_future",
            )
        confirmed, pending = self.sums(deliveries)
        left = self.quantity - confirmed - pending
        if amount > left:
            raise Refused(
                "conflict",
                "More than the contract allows",
                f"the contract is for {format_quantity(self.quantity, self.unit)}; "
                f"{format_quantity(confirmed + pending, self.unit)} are delivered or awaiting "
                f"confirmation, so at most {format_quantity(left, self.unit)} can be recorded",
                field="quantity",
                message="more than the contract allows",
                code="delivery.more_than_left",
                left=left,
                unit=self.unit,
                contracted=self.quantity,
            )
        return amount

    def cancel(self, company_id: uuid.UUID | None) -> None:
        if company_id is not None:
            self.ensure_party(company_id)
        self.ensure_active()

    def completed_by(self, deliveries: list[Delivery]) -> bool:
        return self.status == "active" and self.sums(deliveries)[0] >= self.quantity

    def undelivered(self, deliveries: list[Delivery]) -> Decimal:
        confirmed, pending = self.sums(deliveries)
        return max(Decimal(0), self.quantity - confirmed - pending)

    def cancelled_event(
        self,
        deliveries: list[Delivery],
        by: uuid.UUID | None,
        reason: str,
        at: datetime,
        detail: events.ReasonDetail | None = None,
        typed: str | None = None,
    ) -> events.ContractCancelled:
        return events.ContractCancelled(
            contract_id=self.id,
            offer_id=self.offer_id,
            need_id=self.need_id,
            supplier_company_id=self.supplier_company_id,
            receiver_company_id=self.receiver_company_id,
            undelivered_quantity=self.undelivered(deliveries),
            unit=self.unit,
            by_company_id=by,
            reason=reason,
            reason_detail=detail,
            reason_typed=typed,
            cancelled_at=at,
        )

    def completed_event(self, deliveries: list[Delivery], at: datetime) -> events.ContractCompleted:
        confirmed, _ = self.sums(deliveries)
        return events.ContractCompleted(
            contract_id=self.id,
            offer_id=self.offer_id,
            need_id=self.need_id,
            supplier_company_id=self.supplier_company_id,
            receiver_company_id=self.receiver_company_id,
            title=self.title,
            delivered_quantity=confirmed,
            unit=self.unit,
            deliveries=sum(1 for d in deliveries if d.status == "confirmed"),
            completed_at=at,
        )


@dataclass(frozen=True)
class Carrier:
    """Who moved the material."""

    name: str
    org_number: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A row of ``deliveries`` (with its contract's parties when read for an answer)."""

    id: uuid.UUID
    contract_id: uuid.UUID
    quantity: Decimal
    unit: str
    delivered_on: date
    weighbridge_note: str | None
    recorded_by: uuid.UUID
    recorded_at: datetime
    status: str
    answered_by: uuid.UUID | None
    answered_at: datetime | None
    dispute_reason: str | None
    carrier: dict[str, Any] | None
    measurement: str | None
    weighbridge_ticket: str | None
    declaration: dict[str, Any] | None
    confirmed_at: datetime | None

    def answer(self, company_id: uuid.UUID, contract: Contract, dispute: bool) -> None:
        """Refused unless the receiver answers a delivery that awaits its answer (a dispute
        may also come after confirmation, when the invoice is credited)."""
        contract.ensure_party(company_id)
        if company_id != contract.receiver_company_id:
            raise Refused(
                "forbidden",
                "Forbidden",
                "only the receiver confirms or disputes a delivery; the supplier cannot "
                "answer its own",
                code="delivery.receiver_only",
            )
        if self.status == "recorded" or (dispute and self.status == "confirmed"):
            return
        raise Refused(
            "conflict",
            "Already answered",
            f"the delivery is already {self.status}",
            code="delivery.already_answered",
            status=self.status,
        )

    def facts(self, contract: Contract, note: str | None, at: datetime) -> dict[str, Any]:
        return {
            "delivery_id": self.id,
            "contract_id": contract.id,
            "supplier_company_id": contract.supplier_company_id,
            "receiver_company_id": contract.receiver_company_id,
            "title": contract.title,
            "quantity": self.quantity,
            "unit": self.unit,
            "delivered_on": self.delivered_on,
            "note": note,
            "at": at,
        }
