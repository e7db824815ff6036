"""HTTP routes of the park-wide optimiser, for park administrators: run it on the open
listings, compare its plan with the pairwise proposals, accept it."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from pydantic import BaseModel, Field

from services.matching import storage
from services.matching.domain import planned
from services.matching.handlers import SOURCE, proposed, retract_one
from services.matching.optimiser import optimise
from services.matching.park import GoalSpec, PlanReport
from shared.db import Pool
from shared.events import Envelope, ReasonDetail, Topic
from shared.http import Problem, example_body, principal_of
from shared.outbox import enqueue

API_TIME_LIMIT_SECONDS = 120


class PairwiseSummary(BaseModel):
    """The matcher's open pairwise proposals, summed. They compete for the same supply, so
    their sum is what was proposed, not a plan the park could carry out at once."""

    open_proposals: int
    surplus_nok: float = Field(description="Sum of the proposals' surplus where priced.")
    co2e_net_kg: float = Field(description="Sum of their CO2e avoided net of transport.")


class Comparison(BaseModel):
    """The plan minus the greedy pairwise plan (a feasible pairwise selection)."""

    objective: float
    surplus_nok: float
    co2e_net_kg: float


class PlanView(BaseModel):
    id: uuid.UUID
    created_at: datetime
    created_by: uuid.UUID
    accepted_at: datetime | None
    goal: GoalSpec
    report: PlanReport
    pairwise: PairwiseSummary
    better_than_greedy: Comparison


class AcceptedPlan(BaseModel):
    plan: PlanView
    proposed: int = Field(description="Exchanges published as proposals from the optimiser.")
    skipped: list[str] = Field(description="Exchanges no longer possible, and why.")
    superseded: int = Field(description="Open proposals of earlier plans, retracted.")


async def _view(pool: Pool, row: storage.PlanRow) -> PlanView:
    async with pool.acquire() as conn:
        pairwise = await storage.open_matcher_proposals(conn)
    report = PlanReport.model_validate(row.report)
    return PlanView(
        id=row.id,
        created_at=row.created_at,
        created_by=row.created_by,
        accepted_at=row.accepted_at,
        goal=GoalSpec.model_validate(row.goal),
        report=report,
        pairwise=PairwiseSummary(
            open_proposals=len(pairwise),
            surplus_nok=sum((p.value or {}).get("surplus_ore") or 0 for p in pairwise) / 100,
            co2e_net_kg=sum(
                (p.value or {}).get("co2e_net_kg") or (p.value or {}).get("co2e_avoided_kg") or 0
                for p in pairwise
            ),
        ),
        better_than_greedy=Comparison(
            objective=report.plan.objective - report.greedy.objective,
            surplus_nok=report.plan.surplus_nok - report.greedy.surplus_nok,
            co2e_net_kg=report.plan.co2e_net_kg - report.greedy.co2e_net_kg,
        ),
    )


class OptimisationController(Controller):
    path = "/optimisations"
    tags = ["optimiser"]

    @post("/", operation_id="optimise_park", status_code=201)
    async def run(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        data: Annotated[
            GoalSpec,
            example_body(
                ("Most money for the park", {"objective": "surplus"}),
                (
                    "Money and CO2e, with a carbon price",
                    {"objective": "mix", "carbon_price_nok_per_t": 1000},
                ),
            ),
        ],
    ) -> PlanView:
        """Park administrators: find the best set of exchanges between all open offers and
        needs (blending under quality limits, supply and demand, distance, fixed link costs),
        beside the greedy pairwise plan and the matcher's open proposals. Nothing is
        proposed until the plan is accepted."""
        principal = principal_of(request, "park:admin")
        if data.time_limit_seconds > API_TIME_LIMIT_SECONDS:
            raise Problem(
                400,
                "The request is not valid",
                f"the API solves for at most {API_TIME_LIMIT_SECONDS} s; use "
                "`symbiosis optimize` for longer runs",
                errors=[{"field": "time_limit_seconds", "message": "too long"}],
            )
        async with pool.acquire() as conn:
            listings = await storage.all_open_listings(conn)
        plan = await asyncio.to_thread(optimise, listings, data.goal())
        report = PlanReport.of(plan)
        async with pool.acquire() as conn:
            row = await storage.insert_plan(
                conn,
                uuid.uuid4(),
                data.model_dump(mode="json"),
                report.model_dump(mode="json"),
                principal.subject_id,
            )
        return await _view(pool, row)

    @get("/", operation_id="list_optimisations")
    async def recent(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: FromQuery[int] = 20,
    ) -> list[PlanView]:
        """Park administrators: the latest plans, newest first."""
        principal_of(request, "park:read")
        if not 1 <= limit <= 100:
            raise Problem(
                400,
                "The request is not valid",
                "limit must be between 1 and 100",
                errors=[{"field": "limit", "message": "between 1 and 100"}],
            )
        async with pool.acquire() as conn:
            rows = await storage.plans(conn, limit)
        return [await _view(pool, row) for row in rows]

    @get("/{plan_id:uuid}", operation_id="get_optimisation")
    async def one(
        self,
        request: Request[Any, Any, Any],
        plan_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> PlanView:
        """Park administrators: one plan beside the pairwise proposals, with the difference
        in value and CO2e."""
        principal_of(request, "park:read")
        async with pool.acquire() as conn:
            row = await storage.plan(conn, plan_id)
        if row is None:
            raise Problem(404, "Not found", f"no plan {plan_id}")
        return await _view(pool, row)

    @post("/{plan_id:uuid}/accept", operation_id="accept_optimisation", status_code=200)
    async def accept(
        self,
        request: Request[Any, Any, Any],
        plan_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> AcceptedPlan:
        """Park administrators: publish the plan's exchanges as proposals marked as coming
        from the optimiser, to both parties of each. Exchanges whose listings have closed or
        shrunk since are skipped and named; open proposals of earlier plans are retracted."""
        principal = principal_of(request, "park:admin")
        proposed_count, superseded = 0, 0
        skipped: list[str] = []
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.plan(conn, plan_id, lock=True)
            if row is None:
                raise Problem(404, "Not found", f"no plan {plan_id}")
            if row.accepted_at is not None:
                raise Problem(
                    409,
                    "Already accepted",
                    f"plan {plan_id} was accepted at {row.accepted_at.isoformat()}",
                )
            report = PlanReport.model_validate(row.report)
            sources = Counter(flow.need_id for flow in report.plan.flows)
            for flow in report.plan.flows:
                offer = await storage.open_listing(conn, flow.offer_id)
                need = await storage.open_listing(conn, flow.need_id)
                quantity = Decimal(str(round(flow.quantity, 3)))
                if offer is None or need is None:
                    skipped.append(f"{flow.offer} → {flow.need}: a listing is no longer open")
                    continue
                if quantity <= 0:
                    continue
                proposal = planned(offer, need, quantity, plan_id, sources[flow.need_id])
                if not await storage.insert_proposal(conn, proposal):
                    continue
                await enqueue(
                    conn,
                    Topic.PROPOSALS,
                    Envelope.wrap(
                        proposed(proposal),
                        source=SOURCE,
                        subject=proposal.proposal_id,
                        correlation_id=plan_id,
                    ),
                )
                proposed_count += 1
            for old in await storage.open_plan_proposals(conn, plan_id):
                reason = ReasonDetail(code="retract.superseded", params={"plan": str(plan_id)})
                if await retract_one(conn, old, reason, plan_id):
                    superseded += 1
            row = await storage.mark_plan_accepted(conn, plan_id, principal.subject_id)
        return AcceptedPlan(
            plan=await _view(pool, row),
            proposed=proposed_count,
            skipped=skipped,
            superseded=superseded,
        )
