"""Agreed contracts and their deliveries over HTTP: the supplier records each delivery (who
carried it, how it was measured, and for hazardous waste the data of its declaration); the
receiver confirms or disputes it. A confirmed delivery is invoiced and enters the impact
ledger; disputed after it was invoiced, its invoice is credited. Each delivery has its
delivery note (PDF) and, for hazardous waste, its declaration (PDF and JSON).

Cancelling: either party may cancel an active contract, with a reason. Deliveries already
confirmed stay invoiced and counted; recorded ones can still be confirmed or disputed; the
rest of the quantity is released on both listings (``contract.cancelled``). A contract whose
confirmed deliveries reach its quantity is completed (``contract.completed``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter
from pydantic import BaseModel, Field, field_validator
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.no import orgnr

from services.contracts import application, documents, storage
from services.contracts.config import ContractsSettings
from services.contracts.domain.contract import MEASUREMENTS, Contract, Delivery
from services.contracts.domain.declaration import Declaration
from services.contracts.domain.invoice import Party
from services.contracts.problems import REFUSALS, company
from shared.auth import Principal
from shared.db import Connection, Pool
from shared.events import ReasonDetail
from shared.http import Problem, example_body, principal_of
from shared.refusals import Refusal
from shared.units import Quantity, Unit

Language = Literal["nb", "en"]


class CarrierModel(BaseModel):
    name: str = Field(min_length=2, max_length=200, description="The haulier's name.")
    org_number: str | None = Field(
        default=None, description="Its Norwegian organisation number, if it has one."
    )

    @field_validator("org_number")
    @classmethod
    def _org(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(orgnr.validate(value))
        except StdnumValidationError as exc:
            raise Refusal(
                "company.org_number_invalid",
                f"{value!r} is not a valid Norwegian organisation number",
                value=value,
            ) from exc


class DeclarationModel(BaseModel):
    """The supplier's part of the declaration of hazardous waste."""

    waste_number: str = Field(
        description="Avfallsstoffnummer: four digits from 7000 (e.g. 7042, organic solvents)."
    )
    description: str = Field(min_length=3, max_length=500)
    properties: list[str] = Field(
        min_length=1, max_length=15, description="Hazardous properties, `HP1` to `HP15`."
    )
    un_number: str | None = Field(default=None, description="UN number where ADR applies.")
    packaging: str | None = Field(default=None, max_length=200)

    def checked(self) -> Declaration:
        return Declaration.checked(
            self.waste_number, self.description, self.properties, self.un_number, self.packaging
        )


class DeliveryView(BaseModel):
    id: uuid.UUID
    contract_id: uuid.UUID
    quantity: Quantity
    unit: str
    delivered_on: date
    weighbridge_note: str | None
    weighbridge_ticket: str | None = Field(description="The weighbridge ticket number.")
    measurement: str | None = Field(description=f"How it was measured: {', '.join(MEASUREMENTS)}.")
    carrier: dict[str, Any] | None
    declaration: dict[str, Any] | None = Field(
        description="For hazardous waste: the declaration's data."
    )
    recorded_at: datetime
    status: str = Field(description="`recorded` (to confirm), `confirmed` or `disputed`.")
    answered_at: datetime | None
    confirmed_at: datetime | None
    dispute_reason: str | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        return cls(**{k: getattr(delivery, k) for k in cls.model_fields})


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
    hazardous: bool
    quantity: Quantity
    unit: str
    price_per_unit_ore: int
    delivery_from: date | None
    delivery_until: date | None
    transport: str
    schedule: str
    status: str = Field(description="`active`, `completed` or `cancelled`.")
    status_reason: str | None = Field(description="Why it ended or runs again, in English.")
    status_reason_detail: ReasonDetail | None = Field(
        default=None,
        description="The exchange's part of `status_reason` as a code and its parameters "
        "(`contract.completed`, `contract.reservation_refused`, `contract.cancelled_by_party`, "
        "`contract.reopened_by_dispute`: docs/reasons.md), to say in the reader's language; "
        "null on contracts that ended before reasons had codes.",
    )
    status_reason_typed: str | None = Field(
        default=None,
        description="What a person wrote as the reason (a cancellation's, a dispute's), as "
        "written.",
    )
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
    weighbridge_ticket: str | None = Field(
        default=None, max_length=100, description="The weighbridge ticket number."
    )
    measurement: Literal["weighbridge", "meter", "volume", "count", "estimate"] | None = Field(
        default=None, description="How the quantity was measured."
    )
    carrier: CarrierModel | None = Field(default=None, description="Who carried it.")
    declaration: DeclarationModel | None = Field(
        default=None, description="Required for hazardous waste (avfallsforskriften kap. 11)."
    )


class Dispute(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class Cancellation(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


async def contract_view(conn: Connection, contract: Contract) -> ContractView:
    deliveries = await storage.deliveries_of(conn, contract.id)
    confirmed, pending = contract.sums(deliveries)
    fields = {k: getattr(contract, k) for k in ContractView.model_fields if hasattr(contract, k)}
    return ContractView(
        **fields,
        delivered=confirmed,
        pending=pending,
        deliveries=[DeliveryView.of(d) for d in deliveries],
    )


def _scope(principal: Principal) -> uuid.UUID | None:
    """Whose things the caller may see: its company's, or everything for a park administrator."""
    return None if principal.is_park_admin else principal.company_id


def _actor(principal: Principal) -> application.Actor:
    return application.Actor(company(principal), principal.subject_id, principal.kind)


def _declaration(data: NewDelivery) -> Declaration | None:
    if data.declaration is None:
        return None
    try:
        return data.declaration.checked()
    except Refusal as exc:
        raise Problem.invalid(
            exc, f"declaration.{exc.field}" if exc.field else "declaration"
        ) from None
    except ValueError as exc:
        raise Problem(
            400,
            "The request is not valid",
            str(exc),
            errors=[{"field": "declaration", "message": str(exc)}],
        ) from None


def pdf(content: bytes, filename: str) -> Response[bytes]:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


class ContractController(Controller):
    path = "/contracts"
    tags = ["contracts"]
    exception_handlers = REFUSALS

    @get("/", operation_id="list_contracts")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 500,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> list[ContractView]:
        """Your contracts (every contract, for a park administrator), newest first, ``limit``
        of them from ``offset``."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            found = await storage.contracts_of(conn, _scope(principal), limit, offset)
            return [await contract_view(conn, c) for c in found]

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
            found = await storage.contract(conn, contract_id, _scope(principal))
            if found is None:
                raise Problem(404, "Not found", f"no contract {contract_id} of yours")
            return await contract_view(conn, found)

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
                        "measurement": "weighbridge",
                        "weighbridge_ticket": "20417",
                        "carrier": {"name": "Østfold Transport AS", "org_number": "921300018"},
                    },
                ),
                (
                    "Hazardous waste, with its declaration",
                    {
                        "quantity": "2.4",
                        "delivered_on": "2027-01-20",
                        "measurement": "weighbridge",
                        "weighbridge_ticket": "20418",
                        "carrier": {"name": "Norsk Spesialavfall AS"},
                        "declaration": {
                            "waste_number": "7042",
                            "description": "Spent solvent from parts cleaning",
                            "properties": ["HP3", "HP14"],
                            "un_number": "UN 1263",
                        },
                    },
                ),
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> DeliveryView:
        """The supplier records a delivery (the quantity actually delivered); the receiver then
        confirms or disputes it. More than the contract allows is refused; hazardous waste
        needs the data of its declaration."""
        actor = _actor(principal_of(request, "trades:write"))
        declaration = _declaration(data)
        async with pool.acquire() as conn, conn.transaction():
            delivery = await application.record_delivery(
                conn,
                contract_id,
                actor,
                data.quantity,
                data.unit,
                data.delivered_on,
                data.weighbridge_note,
                carrier=None if data.carrier is None else data.carrier.model_dump(),
                measurement=data.measurement,
                weighbridge_ticket=data.weighbridge_ticket,
                declaration=declaration,
                correlation_id=request.headers.get("x-correlation-id"),
            )
            return DeliveryView.of(delivery)

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
        actor = _actor(principal_of(request, "trades:write"))
        async with pool.acquire() as conn, conn.transaction():
            ended = await application.cancel_contract(
                conn, contract_id, actor, data.reason, request.headers.get("x-correlation-id")
            )
            return await contract_view(conn, ended)


async def _papers(
    conn: Connection, delivery_id: uuid.UUID, principal: Principal
) -> tuple[Delivery, Contract, Party | None, Party | None]:
    delivery = await storage.delivery(conn, delivery_id, _scope(principal))
    if delivery is None:
        raise Problem(404, "Not found", f"no delivery {delivery_id} of yours")
    contract = await storage.contract(conn, delivery.contract_id, None)
    assert contract is not None
    supplier = await storage.company(conn, contract.supplier_company_id)
    receiver = await storage.company(conn, contract.receiver_company_id)
    return delivery, contract, supplier, receiver


class DeliveryController(Controller):
    path = "/deliveries"
    tags = ["contracts"]
    exception_handlers = REFUSALS

    @post("/{delivery_id:uuid}/confirm", operation_id="confirm_delivery", status_code=200)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        delivery_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        settings: NamedDependency[ContractsSettings],
    ) -> DeliveryView:
        """The receiver confirms a delivery: it is invoiced and counted in the impact ledger.
        Hazardous waste is confirmed only with its declaration and the receiver's permit."""
        actor = _actor(principal_of(request, "trades:write"))
        async with pool.acquire() as conn, conn.transaction():
            answered = await application.confirm_delivery(
                conn, delivery_id, actor, settings, request.headers.get("x-correlation-id")
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
        """The receiver disputes a delivery, with a reason: it is neither invoiced nor counted,
        and its quantity may be recorded again. A confirmed (invoiced) delivery may be disputed
        too: its invoice is credited in full (a credit note, `credit_note.issued`)."""
        actor = _actor(principal_of(request, "trades:write"))
        async with pool.acquire() as conn, conn.transaction():
            answered = await application.dispute_delivery(
                conn, delivery_id, actor, data.reason, request.headers.get("x-correlation-id")
            )
            return DeliveryView.of(answered)

    @get(
        "/{delivery_id:uuid}/note.pdf",
        operation_id="delivery_note_pdf",
        media_type="application/pdf",
    )
    async def note(
        self,
        request: Request[Any, Any, Any],
        delivery_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        lang: FromQuery[Language | None] = None,
    ) -> Response[bytes]:
        """The delivery note: parties, carrier, resource and waste code, quantity and how it
        was measured, date and contract reference (`lang`: `nb` or `en`; default the
        receiver's language)."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            delivery, contract, supplier, receiver = await _papers(conn, delivery_id, principal)
        language = lang or (receiver.language if receiver else "nb")
        content = documents.delivery_note(delivery, contract, supplier, receiver, language)
        return pdf(content, f"delivery-note-{delivery.id}.pdf")

    @get("/{delivery_id:uuid}/declaration", operation_id="hazardous_waste_declaration")
    async def declaration(
        self,
        request: Request[Any, Any, Any],
        delivery_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> dict[str, Any]:
        """The declaration of a delivery of hazardous waste as data the receiver can file:
        waste code, waste substance number, description and properties, quantity, producer,
        receiver with its permit, and carrier. 404 for waste that is not hazardous."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            delivery, contract, supplier, receiver = await _papers(conn, delivery_id, principal)
        if not contract.hazardous:
            raise Problem(404, "Not found", "this delivery is not hazardous waste")
        return documents.declaration_data(delivery, contract, supplier, receiver)

    @get(
        "/{delivery_id:uuid}/declaration.pdf",
        operation_id="hazardous_waste_declaration_pdf",
        media_type="application/pdf",
    )
    async def declaration_pdf(
        self,
        request: Request[Any, Any, Any],
        delivery_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        lang: FromQuery[Language | None] = None,
    ) -> Response[bytes]:
        """The declaration of hazardous waste as a PDF (bokmål by default)."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            delivery, contract, supplier, receiver = await _papers(conn, delivery_id, principal)
        if not contract.hazardous:
            raise Problem(404, "Not found", "this delivery is not hazardous waste")
        data = documents.declaration_data(delivery, contract, supplier, receiver)
        content = documents.declaration_pdf(data, lang or "nb")
        return pdf(content, f"declaration-{delivery.id}.pdf")
