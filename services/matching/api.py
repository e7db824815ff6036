"""HTTP routes of the matching service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from pydantic import BaseModel

from services.matching import storage
from shared.db import Pool
from shared.http import company_of
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
    status: str
    retract_reason: str | None
    created_at: datetime


class ProposalController(Controller):
    path = "/proposals"
    tags = ["proposals"]

    @get("/", operation_id="list_match_proposals")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
    ) -> list[ProposalView]:
        """Trades the matcher proposed in which the caller supplies or receives."""
        async with pool.acquire() as conn:
            rows = await storage.proposals_of(conn, company_of(request, "trades:read"))
        return [ProposalView(**r) for r in rows]
