"""HTTP routes of the listings service."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.listings import domain, storage
from shared.db import Pool
from shared.events import Envelope, ListingPublished, Topic
from shared.http import Problem, company_of, principal_of
from shared.outbox import enqueue
from shared.units import Quantity, Unit

SOURCE = "/services/listings"


class ListingDraft(BaseModel):
    """An offer (something the company has) or a need (something it wants)."""

    model_config = ConfigDict(
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "kind": "offer",
                    "ewc_code": "03 01 05",
                    "title": "Sawdust and shavings, dry",
                    "description": "From planing spruce; collected in a silo.",
                    "quantity": "120",
                    "unit": "t",
                }
            ]
        },
    )

    kind: domain.ListingKind
    ewc_code: str = Field(description="European List of Waste code, e.g. `03 01 05` or `030105`.")
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(default="", max_length=5000)
    quantity: Decimal = Field(description="Amount, greater than zero.")
    unit: Unit

    @field_validator("ewc_code")
    @classmethod
    def _known_code(cls, value: str) -> str:
        return domain.waste_code(value).code

    @field_validator("quantity")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        return domain.positive_quantity(value)


class Listing(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    ewc_code: str
    ewc_description: str
    hazardous: bool
    title: str
    description: str
    quantity: Quantity
    unit: str
    status: str
    created_at: datetime
    published_at: datetime | None

    @classmethod
    def of(cls, row: storage.ListingRow) -> Listing:
        return cls(
            **{k: getattr(row, k) for k in row.__dataclass_fields__},
            ewc_description=domain.waste_code(row.ewc_code).description,
        )


class ListingController(Controller):
    path = "/listings"
    tags = ["listings"]

    @post("/", status_code=HTTP_201_CREATED, operation_id="create_listing")
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ListingDraft],
        pool: NamedDependency[Pool],
    ) -> Listing:
        """Post an offer or a need; it opens at once and is published to the matcher."""
        company_id = company_of(request, "listings:write")
        code = domain.waste_code(data.ewc_code)
        async with pool.acquire() as conn, conn.transaction():
            if await storage.get_company(conn, company_id) is None:
                raise Problem(404, "Not found", "the company of this key no longer exists")
            row = await storage.insert_listing(
                conn,
                listing_id=uuid.uuid4(),
                company_id=company_id,
                kind=data.kind,
                ewc_code=code.code,
                hazardous=code.hazardous,
                title=data.title,
                description=data.description,
                quantity=data.quantity,
                unit=data.unit,
            )
            assert row.published_at is not None
            event = ListingPublished(
                listing_id=row.id,
                company_id=row.company_id,
                kind=data.kind,
                ewc_code=row.ewc_code,
                title=row.title,
                quantity=row.quantity,
                unit=data.unit,
                hazardous=row.hazardous,
                published_at=row.published_at,
            )
            await enqueue(
                conn,
                Topic.LISTINGS,
                Envelope.wrap(
                    event,
                    source=SOURCE,
                    subject=row.id,
                    correlation_id=request.headers.get("x-correlation-id"),
                ),
            )
        return Listing.of(row)

    @get("/", operation_id="list_listings")
    async def search(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        kind: FromQuery[domain.ListingKind | None] = None,
        ewc_code: Annotated[
            str | None, Parameter(description="Only this List of Waste code.")
        ] = None,
        mine: Annotated[bool, Parameter(description="Only the caller's own listings.")] = False,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[Listing]:
        """The caller's own listings and every open listing of the park, newest first."""
        code = None
        if ewc_code is not None:
            try:
                code = domain.waste_code(ewc_code).code
            except ValueError as exc:
                raise Problem(
                    400,
                    "The request is not valid",
                    str(exc),
                    errors=[{"field": "ewc_code", "message": str(exc)}],
                ) from None
        async with pool.acquire() as conn:
            rows = await storage.list_visible_listings(
                conn,
                principal_of(request, "listings:read").company_id,
                kind=kind,
                ewc_code=code,
                mine=mine,
                limit=limit,
            )
        return [Listing.of(r) for r in rows]

    @get("/{listing_id:uuid}", operation_id="get_listing")
    async def read(
        self,
        request: Request[Any, Any, Any],
        listing_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Listing:
        """One listing: the caller's own, or another company's open one."""
        async with pool.acquire() as conn:
            row = await storage.get_visible_listing(
                conn, listing_id, principal_of(request, "listings:read").company_id
            )
        if row is None:
            raise Problem(404, "Not found", f"no listing {listing_id} visible to you")
        return Listing.of(row)
