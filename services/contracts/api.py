"""HTTP routes of the contracts service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel

from services.contracts import storage
from services.contracts.domain import negotiation as domain
from shared.db import Pool
from shared.http import Problem, company_of
from shared.units import Quantity


class Proposal(BaseModel):
    """A proposed trade between a supplier's offer and a receiver's need."""

    id: uuid.UUID
    offer_id: uuid.UUID
    need_id: uuid.UUID
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    ewc_code: str | None
    resource_class: str | None
    title: str
    quantity: Quantity
    unit: str
    reasons: list[str]
    status: str
    proposed_at: datetime

    @classmethod
    def of(cls, proposal: domain.Proposal) -> Proposal:
        return cls(**{k: getattr(proposal, k) for k in cls.model_fields})


class ProposalController(Controller):
    path = "/proposals"
    tags = ["proposals"]

    @get("/", operation_id="list_proposals")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
    ) -> list[Proposal]:
        """Proposals in which the caller is the supplier or the receiver, newest first."""
        async with pool.acquire() as conn:
            rows = await storage.proposals_of(conn, company_of(request, "trades:read"))
        return [Proposal.of(r) for r in rows]

    @get("/{proposal_id:uuid}", operation_id="get_proposal")
    async def one(
        self,
        request: Request[Any, Any, Any],
        proposal_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Proposal:
        """One proposal the caller is party to; 404 for anyone else."""
        async with pool.acquire() as conn:
            row = await storage.proposal_of(conn, proposal_id, company_of(request, "trades:read"))
        if row is None:
            raise Problem(404, "Not found", f"no proposal {proposal_id} of yours")
        return Proposal.of(row)
