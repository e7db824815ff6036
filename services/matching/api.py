"""HTTP routes of the matching service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel, Field

from services.matching import storage
from services.matching.config import MatchingSettings
from services.matching.domain import checks
from shared.db import Pool
from shared.events import ProposalValue, ReasonDetail
from shared.http import Problem, company_of
from shared.units import Quantity


class ProposalView(BaseModel):
    id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    ewc_code: str | None
    resource_class: str | None
    quantity: Quantity
    unit: str
    reasons: list[str]
    reason_details: list[ReasonDetail] = Field(
        default=[],
        description="The same reasons as codes and parameters, in the same order "
        "(docs/reasons.md).",
    )
    value: ProposalValue | None
    status: str
    retract_reason: str | None
    created_at: datetime
    origin: str = Field(description="`matcher` (pairwise) or `optimiser` (an accepted plan).")
    plan_id: uuid.UUID | None


class ProposalController(Controller):
    path = "/proposals"
    tags = ["proposals"]

    @get("/{proposal_id:uuid}", operation_id="get_match_proposal")
    async def one(
        self,
        request: Request[Any, Any, Any],
        proposal_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> ProposalView:
        """Why the exchange proposed this trade: its reasons, with the numbers and the
        knowledge-base rule; and whether it still stands. Only the two parties see it."""
        async with pool.acquire() as conn:
            row = await storage.proposal_of(conn, proposal_id, company_of(request, "trades:read"))
        if row is None:
            raise Problem(404, "Not found", f"no proposal {proposal_id} of yours")
        return ProposalView.model_validate(row, from_attributes=True)

    @get("/", operation_id="list_match_proposals")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
    ) -> list[ProposalView]:
        """Trades the matcher proposed in which the caller supplies or receives."""
        async with pool.acquire() as conn:
            rows = await storage.proposals_of(conn, company_of(request, "trades:read"))
        return [ProposalView.model_validate(r, from_attributes=True) for r in rows]


class CheckView(BaseModel):
    rule: str = Field(
        description="`companies`, `resource`, `permit`, `quantity`, `units`, `window`, "
        "`quality:<property>`, `distance` or `transport`."
    )
    holds: bool
    detail: str = Field(description="The reason in English.")
    code: str = Field(description="The reason's code (docs/reasons.md).")
    params: dict[str, Any] = Field(description="The reason's parameters.")


class Explanation(BaseModel):
    """Why an offer and a need are, or are not, proposed to each other."""

    offer_id: uuid.UUID
    need_id: uuid.UUID
    proposed: bool = Field(description="Whether every rule holds for the pair.")
    checks: list[CheckView]
    proposal_id: uuid.UUID | None = Field(
        default=None, description="The matcher's proposal for the pair, if one was made."
    )
    proposal_status: str | None = Field(
        default=None, description="`proposed`, `retracted` or `expired`."
    )
    note: str | None = Field(
        default=None, description="Why a pair that fits has no open proposal, when it has none."
    )


class ExplanationController(Controller):
    path = "/listings"
    tags = ["explanations"]

    @get("/{listing_id:uuid}/explain/{other_id:uuid}", operation_id="explain_match")
    async def explain(
        self,
        request: Request[Any, Any, Any],
        listing_id: FromPath[uuid.UUID],
        other_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
        settings: NamedDependency[MatchingSettings],
    ) -> Explanation:
        """For one of your open listings and another open listing: every rule of the match,
        whether it holds, and the numbers; so you see why a counterpart was not proposed."""
        company_id = company_of(request, "trades:read")
        async with pool.acquire() as conn:
            mine = await storage.open_listing(conn, listing_id)
            other = await storage.open_listing(conn, other_id)
        if mine is None or mine.company_id != company_id:
            raise Problem(404, "Not found", f"no open listing {listing_id} of yours")
        if other is None:
            raise Problem(404, "Not found", f"no open listing {other_id} on the exchange")
        if mine.kind == other.kind:
            raise Problem(
                400,
                "The request is not valid",
                f"both listings are {mine.kind}s; a match needs an offer and a need",
                errors=[{"field": "other_id", "message": "must be of the other kind"}],
            )
        offer, need = (mine, other) if mine.kind == "offer" else (other, mine)
        found = checks(offer, need)
        fits = all(c.holds for c in found)
        async with pool.acquire() as conn:
            row = await storage.matcher_proposal(conn, offer.listing_id, need.listing_id)
        note = None
        if fits and (row is None or row.status != "proposed"):
            note = (
                f"the pair fits, but each listing is proposed only its "
                f"{settings.max_proposals_per_listing} best counterparts when it opens or "
                "changes, and this pair did not rank among them"
                if row is None
                else f"the pair fits again, but its proposal was {row.status}: "
                f"{row.retract_reason}; it is proposed anew when either listing changes"
            )
        return Explanation(
            offer_id=offer.listing_id,
            need_id=need.listing_id,
            proposed=fits,
            checks=[
                CheckView(
                    rule=c.rule, holds=c.holds, detail=c.detail, code=c.code, params=dict(c.params)
                )
                for c in found
            ],
            proposal_id=None if row is None else row.id,
            proposal_status=None if row is None else row.status,
            note=note,
        )
