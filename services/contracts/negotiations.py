"""From proposal to contract: each side accepts, declines or counters the terms on the
table; both acceptances of the same terms make a contract (``contract.agreed``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import structlog
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel, Field

from services.contracts import application, storage
from services.contracts.config import ContractsSettings
from services.contracts.domain.negotiation import Negotiation
from services.contracts.domain.negotiation import Terms as TermsRow
from services.contracts.problems import REFUSALS, company
from shared import events
from shared.auth import Principal
from shared.db import Connection, Pool
from shared.http import Problem, example_body, principal_of
from shared.units import Quantity

log = structlog.get_logger(__name__)
# What the terms' numeric(18, 3) column holds: smaller quantities would be stored as zero.
MIN_QUANTITY = Decimal("0.001")
MAX_QUANTITY = Decimal("1e12")


class TermsView(BaseModel):
    id: uuid.UUID
    version: int
    proposed_by: str = Field(
        description="`exchange` (from the proposal), `supplier` or `receiver`."
    )
    quantity: Quantity
    unit: str
    price_per_unit_ore: int | None = Field(description="None until a side names a price.")
    delivery_from: date | None
    delivery_until: date | None
    transport: str
    schedule: str
    supplier_accepted_at: datetime | None
    receiver_accepted_at: datetime | None
    status: str = Field(description="`open` (on the table), `agreed`, `superseded`, ...")
    created_at: datetime


class StepView(BaseModel):
    at: datetime
    company_id: uuid.UUID | None = Field(description="None when the exchange acted.")
    actor_id: uuid.UUID | None = Field(description="The person or API key that acted.")
    actor_kind: str | None
    action: str
    terms_id: uuid.UUID | None
    note: str | None


class NegotiationView(BaseModel):
    """A negotiation between supplier and receiver over one proposal (same id)."""

    id: uuid.UUID
    status: str = Field(description="`open`, `agreed`, `declined`, `expired` or `withdrawn`.")
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    title: str
    reasons: list[str]
    origin: str
    expires_at: datetime
    updated_at: datetime
    terms: TermsView | None = Field(description="The terms on the table, if any.")
    contract_id: uuid.UUID | None = None
    history: list[TermsView] = Field(default=[], description="Every set of terms, oldest first.")
    steps: list[StepView] = Field(default=[], description="The audit trail, oldest first.")


class TermsAcceptance(BaseModel):
    terms_id: uuid.UUID = Field(
        description="The terms you accept: the ones on the table, so nobody accepts terms "
        "they have not seen."
    )


class Decline(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


def _actor(principal: Principal) -> application.Actor:
    return application.Actor(company(principal), principal.subject_id, principal.kind)


def _terms_view(terms: TermsRow) -> TermsView:
    return TermsView(**{f: getattr(terms, f) for f in TermsView.model_fields})


async def view(conn: Connection, negotiation: Negotiation, full: bool) -> NegotiationView:
    history = await storage.terms_of(conn, negotiation.id)
    current = next((t for t in history if t.status in ("open", "agreed")), None)
    return NegotiationView(
        id=negotiation.id,
        status=negotiation.status,
        supplier_company_id=negotiation.supplier_company_id,
        receiver_company_id=negotiation.receiver_company_id,
        offer_id=negotiation.offer_id,
        need_id=negotiation.need_id,
        title=negotiation.title,
        reasons=negotiation.reasons,
        origin=negotiation.origin,
        expires_at=negotiation.expires_at,
        updated_at=negotiation.updated_at,
        terms=None if current is None else _terms_view(current),
        contract_id=await storage.contract_of_negotiation(conn, negotiation.id),
        history=[_terms_view(t) for t in history] if full else [],
        steps=[
            StepView(**{k: getattr(s, k) for k in StepView.model_fields})
            for s in await storage.steps_of(conn, negotiation.id)
        ]
        if full
        else [],
    )


async def _after(conn: Connection, negotiation_id: uuid.UUID) -> NegotiationView:
    after = await storage.negotiation(conn, negotiation_id, None)
    assert after is not None
    return await view(conn, after, full=True)


class NegotiationController(Controller):
    path = "/negotiations"
    tags = ["negotiations"]
    exception_handlers = REFUSALS

    @get("/", operation_id="list_negotiations")
    async def mine(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[NegotiationView]:
        """Your negotiations (all of them, for a park administrator), latest activity first,
        each with the terms on the table."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            found = await storage.negotiations_of(
                conn, None if principal.is_park_admin else principal.company_id
            )
            return [await view(conn, n, full=False) for n in found]

    @get("/{negotiation_id:uuid}", operation_id="get_negotiation")
    async def one(
        self,
        request: Request[Any, Any, Any],
        negotiation_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> NegotiationView:
        """One negotiation with every set of terms and the audit trail (who, when, what).
        Only its two parties and park administrators see it."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            found = await storage.negotiation(
                conn, negotiation_id, None if principal.is_park_admin else principal.company_id
            )
            if found is None:
                raise Problem(404, "Not found", f"no negotiation {negotiation_id} of yours")
            return await view(conn, found, full=True)

    @post("/{negotiation_id:uuid}/accept", operation_id="accept_terms", status_code=200)
    async def accept(
        self,
        request: Request[Any, Any, Any],
        negotiation_id: FromPath[uuid.UUID],
        data: Annotated[
            TermsAcceptance,
            example_body(
                (
                    "Accept the terms on the table",
                    {"terms_id": "6c1f2d1e-9a4b-4a53-8f1e-2b7c9d0e1f23"},
                )
            ),
        ],
        pool: NamedDependency[Pool],
        settings: NamedDependency[ContractsSettings],
    ) -> NegotiationView:
        """Accept the terms on the table. When the other side has accepted them too, they make
        a contract (`contract.agreed`), which reserves the quantity on both listings."""
        actor = _actor(principal_of(request, "trades:write"))
        async with pool.acquire() as conn, conn.transaction():
            await application.accept(
                conn,
                negotiation_id,
                actor,
                data.terms_id,
                settings,
                request.headers.get("x-correlation-id"),
            )
            return await _after(conn, negotiation_id)

    @post("/{negotiation_id:uuid}/counter", operation_id="counter_terms", status_code=200)
    async def counter(
        self,
        request: Request[Any, Any, Any],
        negotiation_id: FromPath[uuid.UUID],
        data: Annotated[
            events.Terms,
            example_body(
                (
                    "Less, cheaper, the supplier transports",
                    {
                        "quantity": "15",
                        "unit": "t",
                        "price_per_unit_ore": 12000,
                        "transport": "supplier",
                    },
                ),
                (
                    "A monthly stream for the first half of 2027",
                    {
                        "quantity": "120",
                        "unit": "t",
                        "price_per_unit_ore": 9000,
                        "schedule": "monthly",
                        "delivery_from": "2027-01-01",
                        "delivery_until": "2027-06-30",
                    },
                ),
            ),
        ],
        pool: NamedDependency[Pool],
        settings: NamedDependency[ContractsSettings],
    ) -> NegotiationView:
        """Put other terms on the table (quantity, price, window, who transports, schedule);
        you accept them by proposing them, and the other side answers."""
        actor = _actor(principal_of(request, "trades:write"))
        if not MIN_QUANTITY <= data.quantity <= MAX_QUANTITY:
            raise Problem(
                400,
                "The request is not valid",
                f"quantity: from {MIN_QUANTITY} to {MAX_QUANTITY:f} (three decimals are kept)",
                errors=[
                    {"field": "quantity", "message": f"from {MIN_QUANTITY} to {MAX_QUANTITY:f}"}
                ],
            )
        async with pool.acquire() as conn, conn.transaction():
            await application.counter(
                conn, negotiation_id, actor, data, settings, request.headers.get("x-correlation-id")
            )
            return await _after(conn, negotiation_id)

    @post("/{negotiation_id:uuid}/decline", operation_id="decline_negotiation", status_code=200)
    async def decline(
        self,
        request: Request[Any, Any, Any],
        negotiation_id: FromPath[uuid.UUID],
        data: Annotated[
            Decline, example_body(("Not at that price", {"reason": "Too far apart on price"}))
        ],
        pool: NamedDependency[Pool],
    ) -> NegotiationView:
        """End the negotiation without a contract; the other side is told."""
        actor = _actor(principal_of(request, "trades:write"))
        async with pool.acquire() as conn, conn.transaction():
            await application.decline(
                conn, negotiation_id, actor, data.reason, request.headers.get("x-correlation-id")
            )
            return await _after(conn, negotiation_id)


async def expire_negotiations(pool: Pool) -> int:
    """Expire one batch of negotiations nobody answered in time; how many."""
    async with pool.acquire() as conn, conn.transaction():
        return await application.expire_negotiations(conn)


async def expire_periodically(pool: Pool, settings: ContractsSettings) -> None:
    every = min(60.0, settings.negotiation_expiry_hours * 3600 / 10)
    while True:
        try:
            while await expire_negotiations(pool) >= 100:
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("expiring negotiations failed, will retry", error=repr(exc))
        await asyncio.sleep(every)


__all__ = ["NegotiationController", "expire_negotiations", "expire_periodically"]
