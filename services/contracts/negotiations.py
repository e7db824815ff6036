"""From proposal to contract: each side accepts, declines or counters the terms on the
table; both acceptances of the same terms make a contract (``contract.agreed``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
import structlog
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel, Field

from services.contracts import storage
from services.contracts.outbox import publish
from shared.auth import Principal
from shared.db import Connection, Pool
from shared.events import (
    ContractAgreed,
    NegotiationCountered,
    NegotiationDeclined,
    NegotiationExpired,
    Terms,
)
from shared.http import Problem, example_body, principal_of
from shared.settings import Settings
from shared.units import Quantity, convert

log = structlog.get_logger(__name__)
Side = Literal["supplier", "receiver"]
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
    delivery_from: Any
    delivery_until: Any
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


def side_of(negotiation: dict[str, Any], company_id: uuid.UUID) -> Side:
    return "supplier" if negotiation["supplier_company_id"] == company_id else "receiver"


def facts(
    negotiation: dict[str, Any], by: uuid.UUID | None, terms: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "negotiation_id": negotiation["id"],
        "supplier_company_id": negotiation["supplier_company_id"],
        "receiver_company_id": negotiation["receiver_company_id"],
        "title": negotiation["title"],
        "by_company_id": by,
        "terms": None
        if terms is None or terms["price_per_unit_ore"] is None
        else terms_model(terms),
        "at": datetime.now(UTC),
    }


def terms_model(row: dict[str, Any]) -> Terms:
    return Terms(
        quantity=row["quantity"],
        unit=row["unit"],
        price_per_unit_ore=row["price_per_unit_ore"],
        delivery_from=row["delivery_from"],
        delivery_until=row["delivery_until"],
        transport=row["transport"],
        schedule=row["schedule"],
    )


async def view(conn: Connection, row: dict[str, Any], full: bool) -> NegotiationView:
    history = await storage.terms_of(conn, row["id"])
    current = next((t for t in history if t["status"] in ("open", "agreed")), None)
    contract = await storage.contract_of_negotiation(conn, row["id"])
    return NegotiationView(
        id=row["id"],
        status=row["status"],
        supplier_company_id=row["supplier_company_id"],
        receiver_company_id=row["receiver_company_id"],
        offer_id=row["offer_id"],
        need_id=row["need_id"],
        title=row["title"],
        reasons=row["reasons"],
        origin=row["origin"],
        expires_at=row["expires_at"],
        updated_at=row["updated_at"],
        terms=None if current is None else TermsView(**current),
        contract_id=contract,
        history=[TermsView(**t) for t in history] if full else [],
        steps=[
            StepView(**{k: s[k] for k in StepView.model_fields})
            for s in await storage.steps_of(conn, row["id"])
        ]
        if full
        else [],
    )


async def _locked(
    conn: Connection, negotiation_id: uuid.UUID, principal: Principal
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The open negotiation (locked) and its terms on the table, or the 4xx that says why not."""
    assert principal.company_id is not None
    row = await storage.negotiation(conn, negotiation_id, principal.company_id, lock=True)
    if row is None:
        raise Problem(404, "Not found", f"no negotiation {negotiation_id} of yours")
    if row["status"] == "open" and row["expires_at"] < datetime.now(UTC):
        raise Problem(409, "Expired", f"the negotiation expired at {row['expires_at'].isoformat()}")
    if row["status"] != "open":
        raise Problem(409, "Not open", f"the negotiation is {row['status']}")
    current = next(t for t in await storage.terms_of(conn, negotiation_id) if t["status"] == "open")
    return row, current


def _actor(principal: Principal) -> tuple[uuid.UUID, str]:
    return principal.subject_id, principal.kind


class NegotiationController(Controller):
    path = "/negotiations"
    tags = ["negotiations"]

    @get("/", operation_id="list_negotiations")
    async def mine(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[NegotiationView]:
        """Your negotiations (all of them, for a park administrator), latest activity first,
        each with the terms on the table."""
        principal = principal_of(request, "trades:read")
        async with pool.acquire() as conn:
            rows = await storage.negotiations_of(
                conn, None if principal.is_park_admin else principal.company_id
            )
            return [await view(conn, row, full=False) for row in rows]

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
            row = await storage.negotiation(
                conn, negotiation_id, None if principal.is_park_admin else principal.company_id
            )
            if row is None:
                raise Problem(404, "Not found", f"no negotiation {negotiation_id} of yours")
            return await view(conn, row, full=True)

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
        settings: NamedDependency[Settings],
    ) -> NegotiationView:
        """Accept the terms on the table. When the other side has accepted them too, they make
        a contract (`contract.agreed`), which reserves the quantity on both listings."""
        principal = principal_of(request, "trades:write")
        async with pool.acquire() as conn, conn.transaction():
            row, current = await _locked(conn, negotiation_id, principal)
            if data.terms_id != current["id"]:
                raise Problem(
                    409,
                    "Not the terms on the table",
                    "those terms are no longer on the table; answer version "
                    f"{current['version']} ({current['id']})",
                    errors=[{"field": "terms_id", "message": "not the terms on the table"}],
                )
            if current["price_per_unit_ore"] is None:
                raise Problem(
                    409,
                    "No price yet",
                    "these terms have no price; counter with the price you want",
                )
            assert principal.company_id is not None
            side = side_of(row, principal.company_id)
            if current[f"{side}_accepted_at"] is not None:
                raise Problem(
                    409, "Already accepted", "you accepted these terms; the other side answers"
                )
            current = await storage.accept_terms(conn, current["id"], side)
            await storage.add_step(
                conn, row["id"], principal.company_id, *_actor(principal), "accepted", current["id"]
            )
            if current["supplier_accepted_at"] and current["receiver_accepted_at"]:
                await agree(conn, row, current, request.headers.get("x-correlation-id"))
            else:
                await storage.set_negotiation(conn, row["id"], "open", _expiry(settings))
            after = await storage.negotiation(conn, row["id"], principal.company_id)
            assert after is not None
            return await view(conn, after, full=True)

    @post("/{negotiation_id:uuid}/counter", operation_id="counter_terms", status_code=200)
    async def counter(
        self,
        request: Request[Any, Any, Any],
        negotiation_id: FromPath[uuid.UUID],
        data: Annotated[
            Terms,
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
        settings: NamedDependency[Settings],
    ) -> NegotiationView:
        """Put other terms on the table (quantity, price, window, who transports, schedule);
        you accept them by proposing them, and the other side answers."""
        principal = principal_of(request, "trades:write")
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
            row, current = await _locked(conn, negotiation_id, principal)
            if convert(Decimal(1), data.unit, row["proposal_unit"]) is None:
                raise Problem(
                    400,
                    "The request is not valid",
                    f"{data.unit} cannot be converted to the proposal's {row['proposal_unit']}",
                    errors=[
                        {
                            "field": "unit",
                            "message": f"must measure what {row['proposal_unit']} does",
                        }
                    ],
                )
            assert principal.company_id is not None
            side = side_of(row, principal.company_id)
            await storage.set_terms_status(conn, current["id"], "superseded")
            new = await storage.insert_terms(
                conn,
                row["id"],
                side,
                quantity=data.quantity,
                unit=data.unit,
                price=data.price_per_unit_ore,
                delivery_from=data.delivery_from,
                delivery_until=data.delivery_until,
                transport=data.transport,
                schedule=data.schedule,
            )
            await storage.add_step(
                conn, row["id"], principal.company_id, *_actor(principal), "countered", new["id"]
            )
            await storage.set_negotiation(conn, row["id"], "open", _expiry(settings))
            await publish(
                conn,
                NegotiationCountered(**facts(row, principal.company_id, new)),
                row["id"],
                request.headers.get("x-correlation-id"),
            )
            after = await storage.negotiation(conn, row["id"], None)
            assert after is not None
            return await view(conn, after, full=True)

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
        principal = principal_of(request, "trades:write")
        async with pool.acquire() as conn, conn.transaction():
            row, current = await _locked(conn, negotiation_id, principal)
            await storage.set_terms_status(conn, current["id"], "declined")
            await storage.set_negotiation(conn, row["id"], "declined")
            await storage.add_step(
                conn,
                row["id"],
                principal.company_id,
                *_actor(principal),
                "declined",
                current["id"],
                data.reason,
            )
            await publish(
                conn,
                NegotiationDeclined(**facts(row, principal.company_id, None)),
                row["id"],
                request.headers.get("x-correlation-id"),
            )
            after = await storage.negotiation(conn, row["id"], None)
            assert after is not None
            return await view(conn, after, full=True)


def _expiry(settings: Settings) -> datetime:
    return datetime.now(UTC) + timedelta(hours=settings.negotiation_expiry_hours)


async def agree(
    conn: Connection, negotiation: dict[str, Any], terms: dict[str, Any], correlation_id: str | None
) -> dict[str, Any]:
    """Both sides accepted these terms: the contract, and ``contract.agreed``."""
    await storage.set_terms_status(conn, terms["id"], "agreed")
    await storage.set_negotiation(conn, negotiation["id"], "agreed")
    await storage.mark_proposal_agreed(conn, negotiation["id"])
    contract = await storage.insert_contract(conn, negotiation, terms)
    await storage.add_step(
        conn,
        negotiation["id"],
        None,
        None,
        None,
        "agreed",
        terms["id"],
        f"contract {contract['id']}",
    )
    await publish(
        conn,
        ContractAgreed(
            contract_id=contract["id"],
            proposal_id=negotiation["id"],
            offer_id=contract["offer_id"],
            need_id=contract["need_id"],
            supplier_company_id=contract["supplier_company_id"],
            receiver_company_id=contract["receiver_company_id"],
            quantity=contract["quantity"],
            unit=contract["unit"],
            price_per_unit_ore=contract["price_per_unit_ore"],
            agreed_at=contract["agreed_at"],
            title=contract["title"],
            terms=terms_model(terms),
        ),
        contract["id"],
        correlation_id,
    )
    return contract


async def expire_negotiations(pool: Pool) -> int:
    """Expire one batch of negotiations nobody answered in time; how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await storage.expiring_negotiations(conn)
        for row in rows:
            await storage.close_open_terms(conn, row["id"], "expired")
            await storage.set_negotiation(conn, row["id"], "expired")
            await storage.add_step(conn, row["id"], None, None, None, "expired", None)
            await publish(conn, NegotiationExpired(**facts(row, None, None)), row["id"], None)
    return len(rows)


async def expire_periodically(pool: Pool, settings: Settings) -> None:
    every = min(60.0, settings.negotiation_expiry_hours * 3600 / 10)
    while True:
        try:
            while await expire_negotiations(pool) >= 100:
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("expiring negotiations failed, will retry", error=repr(exc))
        await asyncio.sleep(every)


__all__ = ["NegotiationController", "agree", "expire_periodically"]
