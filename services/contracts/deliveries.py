"""Agreed contracts and their deliveries: the supplier records each delivery, the receiver
confirms or disputes it; a confirmed delivery is invoiced and enters the impact ledger.

Cancelling: either party may cancel an active contract, with a reason. Deliveries already
confirmed stay invoiced and counted; recorded ones can still be confirmed or disputed; the
rest of the quantity is released on both listings (``contract.cancelled``). A contract whose
confirmed deliveries reach its quantity is completed and can no longer be cancelled.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel, Field

from services.contracts import impact, storage
from services.contracts.outbox import publish
from shared.auth import Principal
from shared.db import Connection, Pool
from shared.events import (
    ContractCancelled,
    DeliveryConfirmed,
    DeliveryDisputed,
    DeliveryRecorded,
)
from shared.http import Problem, example_body, principal_of
from shared.settings import Settings
from shared.units import Quantity, Unit, convert, format_quantity

MVA_RATE = Decimal("0.25")  # Norwegian VAT, general rate (merverdiavgiftsloven § 5-1)


class DeliveryView(BaseModel):
    id: uuid.UUID
    contract_id: uuid.UUID
    quantity: Quantity
    unit: str
    delivered_on: date
    weighbridge_note: str | None
    recorded_at: datetime
    status: str = Field(description="`recorded` (to confirm), `confirmed` or `disputed`.")
    answered_at: datetime | None
    dispute_reason: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> DeliveryView:
        return cls(**{k: row[k] for k in cls.model_fields})


class ContractView(BaseModel):
    id: uuid.UUID
    negotiation_id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    title: str
    ewc_code: str | None
    resource_class: str | None
    quantity: Quantity
    unit: str
    price_per_unit_ore: int
    delivery_from: date | None
    delivery_until: date | None
    transport: str
    schedule: str
    status: str = Field(description="`active`, `completed` or `cancelled`.")
    status_reason: str | None
    agreed_at: datetime
    ended_at: datetime | None
    delivered: Quantity = Field(description="Confirmed so far, in `unit`.")
    pending: Quantity = Field(description="Recorded and not yet answered, in `unit`.")
    deliveries: list[DeliveryView] = []


class NewDelivery(BaseModel):
    quantity: Decimal = Field(gt=0, max_digits=18, decimal_places=3)
    unit: Unit | None = Field(default=None, description="Default: the contract's unit.")
    delivered_on: date
    weighbridge_note: str | None = Field(default=None, max_length=500)


class Dispute(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class Cancellation(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


def _sums(contract: dict[str, Any], deliveries: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    confirmed = pending = Decimal(0)
    for d in deliveries:
        amount = convert(d["quantity"], d["unit"], contract["unit"])
        assert amount is not None
        if d["status"] == "confirmed":
            confirmed += amount
        elif d["status"] == "recorded":
            pending += amount
    return confirmed, pending


async def contract_view(conn: Connection, row: dict[str, Any]) -> ContractView:
    deliveries = await storage.deliveries_of(conn, row["id"])
    confirmed, pending = _sums(row, deliveries)
    fields = {k: row[k] for k in ContractView.model_fields if k in row}
    return ContractView(
        **fields,
        delivered=confirmed,
        pending=pending,
        deliveries=[DeliveryView.of(d) for d in deliveries],
    )


def _scope(principal: Principal) -> uuid.UUID | None:
    """Whose things the caller may see: its company's, or everything for a park administrator."""
    return None if principal.is_park_admin else principal.company_id


def _company(principal: Principal) -> uuid.UUID:
    if principal.company_id is None:
        raise Problem(403, "Forbidden", "this needs a company's account or API key")
    return principal.company_id


def delivery_facts(
    contract: dict[str, Any], delivery: dict[str, Any], note: str | None
) -> dict[str, Any]:
    return {
        "delivery_id": delivery["id"],
        "contract_id": contract["id"],
        "supplier_company_id": contract["supplier_company_id"],
        "receiver_company_id": contract["receiver_company_id"],
        "title": contract["title"],
        "quantity": delivery["quantity"],
        "unit": delivery["unit"],
        "delivered_on": delivery["delivered_on"],
        "note": note,
        "at": datetime.now(UTC),
    }


def invoice_amounts(
    quantity: Decimal, unit_price_ore: int, fee_percent: float
) -> tuple[int, int, int, int]:
    """Net, MVA (25 %), total and the platform fee, in øre, rounded half up."""
    net = (quantity * unit_price_ore).quantize(Decimal(1), ROUND_HALF_UP)
    mva = (net * MVA_RATE).quantize(Decimal(1), ROUND_HALF_UP)
    fee = (net * Decimal(str(fee_percent)) / 100).quantize(Decimal(1), ROUND_HALF_UP)
    return int(net), int(mva), int(net + mva), int(fee)


async def queue_invoice(
    conn: Connection, contract: dict[str, Any], delivery: dict[str, Any], settings: Settings
) -> None:
    """A confirmed delivery with a price is invoiced: the receiver pays the supplier, or for a
    gate fee (a negative price) the supplier pays the receiver."""
    price = contract["price_per_unit_ore"]
    if price == 0:
        return
    quantity = convert(delivery["quantity"], delivery["unit"], contract["unit"])
    assert quantity is not None
    net, mva, total, fee = invoice_amounts(quantity, abs(price), settings.platform_fee_percent)
    payer, payee = (
        (contract["receiver_company_id"], contract["supplier_company_id"])
        if price > 0
        else (contract["supplier_company_id"], contract["receiver_company_id"])
    )
    kind = "" if price > 0 else "Gate fee: "
    await storage.insert_invoice(
        conn,
        id=uuid.uuid4(),
        delivery_id=delivery["id"],
        contract_id=contract["id"],
        payer_company_id=payer,
        payee_company_id=payee,
        description=f"{kind}{contract['title']}, {format_quantity(quantity, contract['unit'])} "
        f"delivered {delivery['delivered_on'].isoformat()}",
        quantity=quantity,
        unit=contract["unit"],
        unit_price_ore=abs(price),
        net_ore=net,
        mva_ore=mva,
        total_ore=total,
        platform_fee_ore=fee,
    )


class ContractController(Controller):
    path = "/contracts"
    tags = ["contracts"]

    @get("/", operation_id="list_contracts")
    async def mine(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[ContractView]:
        """Your contracts (every contract, for a park administrator), newest first."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            rows = await storage.contracts_of(conn, _scope(principal))
            return [await contract_view(conn, r) for r in rows]

    @get("/{contract_id:uuid}", operation_id="get_contract")
    async def one(
        self,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> ContractView:
        """One contract with its deliveries; only its parties and park administrators see it."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            row = await storage.contract(conn, contract_id, _scope(principal))
            if row is None:
                raise Problem(404, "Not found", f"no contract {contract_id} of yours")
            return await contract_view(conn, row)

    @post("/{contract_id:uuid}/deliveries", operation_id="record_delivery", status_code=201)
    async def record(
        self,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: Annotated[
            NewDelivery,
            example_body(
                (
                    "A truckload, weighed at the gate",
                    {
                        "quantity": "12.48",
                        "delivered_on": "2027-01-20",
                        "weighbridge_note": "Ticket 20417",
                    },
                )
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> DeliveryView:
        """The supplier records a delivery (the quantity actually delivered); the receiver then
        confirms or disputes it. More than the contract allows is refused."""
        principal = principal_of(request, "trades:write")
        company = _company(principal)
        async with pool.acquire() as conn, conn.transaction():
            contract = await storage.contract(conn, contract_id, company, lock=True)
            if contract is None:
                raise Problem(404, "Not found", f"no contract {contract_id} of yours")
            if contract["supplier_company_id"] != company:
                raise Problem(403, "Forbidden", "only the supplier records deliveries")
            if contract["status"] != "active":
                raise Problem(409, "Not active", f"the contract is {contract['status']}")
            unit = data.unit or contract["unit"]
            amount = convert(data.quantity, unit, contract["unit"])
            if amount is None:
                raise Problem(
                    400,
                    "The request is not valid",
                    f"{unit} cannot be converted to the contract's {contract['unit']}",
                    errors=[
                        {"field": "unit", "message": f"must measure what {contract['unit']} does"}
                    ],
                )
            if data.delivered_on > date.today():
                raise Problem(
                    400,
                    "The request is not valid",
                    "a delivery is recorded once it has happened",
                    errors=[{"field": "delivered_on", "message": "must not be in the future"}],
                )
            confirmed, pending = _sums(contract, await storage.deliveries_of(conn, contract_id))
            unit_of = contract["unit"]
            left = contract["quantity"] - confirmed - pending
            if amount > left:
                raise Problem(
                    409,
                    "More than the contract allows",
                    f"the contract is for {format_quantity(contract['quantity'], unit_of)}; "
                    f"{format_quantity(confirmed + pending, contract['unit'])} are delivered or "
                    f"awaiting confirmation, so at most {format_quantity(left, contract['unit'])} "
                    "can be recorded",
                    errors=[{"field": "quantity", "message": "more than the contract allows"}],
                )
            row = await storage.insert_delivery(
                conn,
                contract_id,
                data.quantity,
                unit,
                data.delivered_on,
                data.weighbridge_note,
                principal.subject_id,
            )
            await publish(
                conn,
                DeliveryRecorded(**delivery_facts(contract, row, data.weighbridge_note)),
                contract_id,
                request.headers.get("x-correlation-id"),
            )
            return DeliveryView.of(row)

    @post("/{contract_id:uuid}/cancel", operation_id="cancel_contract", status_code=200)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: Annotated[
            Cancellation,
            example_body(("The boiler is shut down", {"reason": "Boiler shut down for rebuild"})),
        ],
        pool: NamedDependency[Pool],
    ) -> ContractView:
        """Either party cancels an active contract: confirmed deliveries stay, recorded ones can
        still be answered, and the rest is released on both listings."""
        principal = principal_of(request, "trades:write")
        company = _company(principal)
        async with pool.acquire() as conn, conn.transaction():
            contract = await storage.contract(conn, contract_id, company, lock=True)
            if contract is None:
                raise Problem(404, "Not found", f"no contract {contract_id} of yours")
            if contract["status"] != "active":
                raise Problem(409, "Not active", f"the contract is {contract['status']}")
            contract = await cancel_contract(
                conn, contract, company, data.reason, request.headers.get("x-correlation-id")
            )
            return await contract_view(conn, contract)


async def cancel_contract(
    conn: Connection,
    contract: dict[str, Any],
    by: uuid.UUID | None,
    reason: str,
    correlation_id: str | None,
) -> dict[str, Any]:
    confirmed, pending = _sums(contract, await storage.deliveries_of(conn, contract["id"]))
    ended = await storage.end_contract(conn, contract["id"], "cancelled", reason)
    await publish(
        conn,
        ContractCancelled(
            contract_id=contract["id"],
            offer_id=contract["offer_id"],
            need_id=contract["need_id"],
            supplier_company_id=contract["supplier_company_id"],
            receiver_company_id=contract["receiver_company_id"],
            undelivered_quantity=max(Decimal(0), contract["quantity"] - confirmed - pending),
            unit=contract["unit"],
            by_company_id=by,
            reason=reason,
            cancelled_at=ended["ended_at"],
        ),
        contract["id"],
        correlation_id,
    )
    return ended


class DeliveryController(Controller):
    path = "/deliveries"
    tags = ["contracts"]

    async def _answerable(
        self, conn: Connection, delivery_id: uuid.UUID, principal: Principal
    ) -> dict[str, Any]:
        company = _company(principal)
        row = await storage.delivery(conn, delivery_id, company, lock=True)
        if row is None:
            raise Problem(404, "Not found", f"no delivery {delivery_id} of yours")
        if row["receiver_company_id"] != company:
            raise Problem(
                403,
                "Forbidden",
                "only the receiver confirms or disputes a delivery; the supplier cannot "
                "answer its own",
            )
        if row["status"] != "recorded":
            raise Problem(409, "Already answered", f"the delivery is already {row['status']}")
        return row

    @post("/{delivery_id:uuid}/confirm", operation_id="confirm_delivery", status_code=200)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        delivery_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        settings: NamedDependency[Settings],
    ) -> DeliveryView:
        """The receiver confirms a delivery: it is invoiced and counted in the impact ledger."""
        principal = principal_of(request, "trades:write")
        async with pool.acquire() as conn, conn.transaction():
            row = await self._answerable(conn, delivery_id, principal)
            answered = await storage.answer_delivery(
                conn, delivery_id, "confirmed", principal.subject_id, None
            )
            contract = await storage.contract(conn, row["contract_id"], None, lock=True)
            assert contract is not None
            await queue_invoice(conn, contract, answered, settings)
            await impact.record(conn, contract, answered)
            await publish(
                conn,
                DeliveryConfirmed(
                    **delivery_facts(contract, answered, answered["weighbridge_note"])
                ),
                contract["id"],
                request.headers.get("x-correlation-id"),
            )
            confirmed, _ = _sums(contract, await storage.deliveries_of(conn, contract["id"]))
            if contract["status"] == "active" and confirmed >= contract["quantity"]:
                await storage.end_contract(
                    conn, contract["id"], "completed", "every delivery confirmed"
                )
            return DeliveryView.of(answered)

    @post("/{delivery_id:uuid}/dispute", operation_id="dispute_delivery", status_code=200)
    async def dispute(
        self,
        request: Request[Any, Any, Any],
        delivery_id: FromPath[uuid.UUID],
        data: Annotated[
            Dispute,
            example_body(("Short delivery", {"reason": "Our weighbridge shows 9.8 t, not 12.5 t"})),
        ],
        pool: NamedDependency[Pool],
    ) -> DeliveryView:
        """The receiver disputes a delivery, with a reason; it is neither invoiced nor counted,
        and its quantity may be recorded again."""
        principal = principal_of(request, "trades:write")
        async with pool.acquire() as conn, conn.transaction():
            row = await self._answerable(conn, delivery_id, principal)
            answered = await storage.answer_delivery(
                conn, delivery_id, "disputed", principal.subject_id, data.reason
            )
            contract = await storage.contract(conn, row["contract_id"], None)
            assert contract is not None
            await publish(
                conn,
                DeliveryDisputed(**delivery_facts(contract, answered, data.reason)),
                contract["id"],
                request.headers.get("x-correlation-id"),
            )
            return DeliveryView.of(answered)
