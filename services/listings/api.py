"""HTTP routes for offers and needs: post, read, search, update, publish, withdraw."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.listings import domain, rules, storage
from services.listings.accounts import Location, refuse_if_suspended, refuse_unless_trading
from services.listings.outbox import publish_event
from services.listings.rules import facts
from shared.db import Connection, Pool
from shared.events import (
    TERMS,
    Frequency,
    ListingPublished,
    ListingTerms,
    ListingUpdated,
    ListingWithdrawn,
    QualitySpec,
    Transport,
    TransportMode,
)
from shared.http import Problem, company_of, example_body, principal_of
from shared.knowledge import use_names
from shared.refusals import GENERIC, Refusal
from shared.resources import RESOURCE_CLASSES
from shared.units import Quantity, Unit, dimension, to_base

MAX_PRICE_ORE = 10**12

EXAMPLE_HEAT_OFFER: dict[str, Any] = {
    "kind": "offer",
    "resource_class": "heat",
    "title": "Waste heat from the data hall, 40 °C",
    "description": "Return water from the cooling loop, all year round.",
    "quantity": "350",
    "unit": "MWh",
    "frequency": "monthly",
    "available_from": "2027-01-01",
    "quality": [{"property": "temperature_c", "unit": "°C", "value": 40}],
    "transport": "receiver",
    "price_per_unit_ore": 5000,
}
EXAMPLE_WOOD_NEED: dict[str, Any] = {
    "kind": "need",
    "ewc_code": "03 01 05",
    "title": "Wood chips for the biomass boiler",
    "quantity": "400",
    "unit": "t",
    "frequency": "once",
    "available_from": "2027-01-15",
    "available_until": "2027-03-31",
    "quality": [{"property": "moisture", "unit": "%", "max": 45}],
    "price_per_unit_ore": -15000,
}


class ListingDraft(ListingTerms):
    """An offer (something the company has) or a need (something it wants).

    Name the resource with a List of Waste code (`ewc_code`) or a resource class
    (`resource_class`: heat, steam, cold, process_water, treated_wastewater, seawater, co2,
    fuel_gas, hydrogen, solid_biofuel, liquid_biofuel, animal_feed, fertiliser, food_residue,
    fermentation_residue, fibre, gypsum, ash, slag, aggregate, solvent, acid, alkali,
    sulphur, capacity). A need may also accept other resources (`accepts`) or name a use
    (`use`: `biogas_feedstock`, `boiler_fuel`, `cement_raw_material`, `animal_feed`,
    `fertiliser`, `aggregate`, ...), and then needs no resource of its own. A negative price
    is a gate fee the supplier pays.
    """

    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_HEAT_OFFER, EXAMPLE_WOOD_NEED]},
    )

    kind: domain.ListingKind
    ewc_code: str | None = Field(
        default=None, description="European List of Waste code, e.g. `03 01 05` or `030105`."
    )
    resource_class: str | None = Field(default=None, description="When not a waste code.")
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(default="", max_length=5000)
    quantity: Decimal = Field(description="Amount (per period for a stream), above zero.")
    unit: Unit
    frequency: Frequency = Field(default="once", description="Once, or a stream per period.")
    available_from: date | None = Field(default=None, description="Default: today.")
    available_until: date | None = None
    quality: list[QualitySpec] = Field(default_factory=list, max_length=30)
    location: Location | None = Field(default=None, description="Default: the company's site.")
    transport: Transport = "either"
    price_per_unit_ore: int | None = Field(
        default=None,
        ge=-MAX_PRICE_ORE,
        le=MAX_PRICE_ORE,
        description="NOK øre per unit, excluding MVA; negative: a gate fee. None: to agree.",
    )
    hazardous: bool = Field(
        default=False, description="Must be true for a hazardous List of Waste code."
    )
    internal_note: str = Field(default="", max_length=2000, description="Seen only by you.")
    publish: bool = Field(default=True, description="False keeps it as a draft.")

    @field_validator("ewc_code")
    @classmethod
    def _known_code(cls, value: str | None) -> str | None:
        return None if value is None else domain.waste_code(value).code

    @field_validator("accepts")
    @classmethod
    def _accepted(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(domain.accepted_resource(v) for v in values))

    @field_validator("use")
    @classmethod
    def _use(cls, value: str | None) -> str | None:
        return None if value is None else domain.use_name(value)

    @field_validator("quantity")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        return domain.positive_quantity(value)

    @model_validator(mode="after")
    def _consistent(self) -> ListingDraft:
        domain.check_resource(
            self.ewc_code,
            self.resource_class,
            self.unit,
            self.hazardous,
            [q.model_dump() for q in self.quality],
            self.kind,
            self.use,
            tuple(self.accepts),
        )
        domain.check_window(self.available_from or date.today(), self.available_until)
        return self


class ListingChange(BaseModel):
    """What may change on a listing; fields not sent stay as they are."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: str | None = Field(default=None, min_length=3, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    quantity: Decimal | None = None
    available_from: date | None = None
    available_until: date | None = None
    quality: list[QualitySpec] | None = Field(default=None, max_length=30)
    transport: Transport | None = None
    price_per_unit_ore: int | None = Field(default=None, ge=-MAX_PRICE_ORE, le=MAX_PRICE_ORE)
    internal_note: str | None = Field(default=None, max_length=2000)
    transport_mode: TransportMode | None = None
    max_distance_km: float | None = Field(default=None, gt=0, le=20000)
    accepts: list[str] | None = Field(default=None, max_length=50, description="Needs only.")
    location: Location | None = Field(
        default=None, description="Where the listing is: a park plot, coordinates, or both."
    )

    @field_validator("accepts")
    @classmethod
    def _accepted(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        return list(dict.fromkeys(domain.accepted_resource(v) for v in values))

    @field_validator("quantity")
    @classmethod
    def _positive(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else domain.positive_quantity(value)


class Listing(ListingTerms):
    id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    ewc_code: str | None
    resource_class: str | None
    resource_label: str = Field(description="The List of Waste entry or the class, in words.")
    hazardous: bool
    title: str
    description: str
    quantity: Quantity
    remaining_quantity: Quantity
    unit: str
    frequency: str
    available_from: date
    available_until: date | None
    quality: list[QualitySpec]
    location: Location | None
    transport: str
    price_per_unit_ore: int | None
    gate_fee: bool = Field(description="True when the supplier pays (negative price).")
    internal_note: str | None = Field(description="Only for the listing's own company.")
    status: str
    created_at: datetime
    published_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, row: storage.ListingRow, viewer: uuid.UUID | None) -> Listing:
        location = None
        if row.plot is not None or row.latitude is not None:
            location = Location(plot=row.plot, latitude=row.latitude, longitude=row.longitude)
        if row.ewc_code:
            label = domain.waste_code(row.ewc_code).description
        elif row.resource_class:
            label = RESOURCE_CLASSES[row.resource_class].label
        else:
            label = use_names()[row.use or ""].label if row.use in use_names() else ""
        return cls(
            id=row.id,
            company_id=row.company_id,
            kind=row.kind,
            ewc_code=row.ewc_code,
            resource_class=row.resource_class,
            resource_label=label,
            hazardous=row.hazardous,
            title=row.title,
            description=row.description,
            quantity=row.quantity,
            remaining_quantity=row.remaining_quantity,
            unit=row.unit,
            frequency=row.frequency,
            available_from=row.available_from,
            available_until=row.available_until,
            quality=[QualitySpec(**q) for q in row.quality],
            location=location,
            transport=row.transport,
            price_per_unit_ore=row.price_per_unit_ore,
            gate_fee=(row.price_per_unit_ore or 0) < 0,
            **{name: getattr(row, name) for name in TERMS},
            internal_note=row.internal_note if row.company_id == viewer else None,
            status=row.status,
            created_at=row.created_at,
            published_at=row.published_at,
            updated_at=row.updated_at,
        )


class ListingPage(BaseModel):
    items: list[Listing]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


async def _check_permit(conn: Connection, company_id: uuid.UUID, ewc_code: str) -> None:
    """A need for a hazardous code needs the company's verified, valid permit for it."""
    permit = await storage.permit_of(conn, company_id)
    why = domain.permit_covers(
        permit.status if permit else None,
        permit.valid_until if permit else None,
        [c.strip() for c in permit.waste_codes] if permit else [],
        ewc_code,
        date.today(),
    )
    if why is not None:
        code = domain.waste_code(ewc_code)
        raise _query_error(
            "ewc_code",
            f"{code.display} is hazardous and {why}; a need for it requires a permit the "
            "park has verified (PUT /companies/me/permit)",
            code="listing.permit_missing",
            waste_code=code.display,
            permit=domain.permit_state(
                permit.status if permit else None, permit.valid_until if permit else None
            ),
        )


def _not_found(listing_id: uuid.UUID) -> Problem:
    return Problem(404, "Not found", f"no listing {listing_id} of yours")


def _encode_cursor(sort: str, row: storage.ListingRow) -> str:
    key: Any = (
        row.created_at.isoformat()
        if sort in ("newest", "oldest")
        else str(to_base(row.quantity, row.unit))
    )
    raw = json.dumps({"s": sort, "k": key, "id": str(row.id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort:
            raise ValueError("the cursor belongs to another sort order")
        key: Any = (
            datetime.fromisoformat(data["k"])
            if sort in ("newest", "oldest")
            else Decimal(data["k"])
        )
        return key, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise Problem(
            400,
            "The request is not valid",
            "the cursor is not valid",
            errors=[{"field": "cursor", "message": str(exc) or "not valid"}],
        ) from None


def _query_error(
    field: str, message: str | Exception, code: str = GENERIC, **params: Any
) -> Problem:
    """A 400 naming ``field``; a ``Refusal`` keeps its own code and parameters."""
    if isinstance(message, Refusal):
        return Problem.invalid(message, field)
    return Problem.invalid(Refusal(code, str(message), field=field, **params))


class ListingController(Controller):
    path = "/listings"
    tags = ["listings"]

    @post("/", status_code=HTTP_201_CREATED, operation_id="create_listing")
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            ListingDraft,
            example_body(
                ("A monthly stream of heat at 40 °C", EXAMPLE_HEAT_OFFER),
                ("A one-off need for wood chips, moisture at most 45 %", EXAMPLE_WOOD_NEED),
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Listing:
        """Post an offer or a need. It opens at once (and goes to the matcher) unless
        `publish` is false, which keeps it as a draft only your company sees."""
        company_id = company_of(request, "listings:write")
        async with pool.acquire() as conn, conn.transaction():
            company = await storage.get_company(conn, company_id, lock=True)
            if company is None:
                raise Problem(404, "Not found", "the company of this credential no longer exists")
            refuse_unless_trading(company.status, company.status_reason)
            if data.kind == "need" and data.hazardous:
                await _check_permit(conn, company_id, data.ewc_code or "")
            location = data.location
            fields: dict[str, Any] = {
                "id": uuid.uuid4(),
                "company_id": company_id,
                "kind": data.kind,
                "ewc_code": data.ewc_code,
                "resource_class": data.resource_class,
                "hazardous": data.hazardous,
                "title": data.title,
                "description": data.description,
                "quantity": data.quantity,
                "remaining_quantity": data.quantity,
                "unit": data.unit,
                "dimension": dimension(data.unit),
                "quantity_base": to_base(data.quantity, data.unit),
                "frequency": data.frequency,
                "available_from": data.available_from or date.today(),
                "available_until": data.available_until,
                "quality": [q.model_dump() for q in data.quality],
                "plot": location.plot if location else company.plot,
                "latitude": location.latitude if location else company.latitude,
                "longitude": location.longitude if location else company.longitude,
                "transport": data.transport,
                "price_per_unit_ore": data.price_per_unit_ore,
                **{name: getattr(data, name) for name in TERMS},
                "internal_note": data.internal_note,
                "status": "open" if data.publish else "draft",
            }
            if data.publish:
                fields["published_at"] = datetime.now(UTC)
            row = await storage.insert_listing(conn, fields)
            if data.publish:
                assert row.published_at is not None
                await publish_event(
                    conn,
                    request,
                    ListingPublished(
                        # the company's row is locked since it was read: its sharing too
                        **facts(row, company.share_terms_with_partners),
                        published_at=row.published_at,
                    ),
                    row.id,
                )
        return Listing.of(row, company_id)

    @get("/", operation_id="search_listings")
    async def search(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        kind: FromQuery[domain.ListingKind | None] = None,
        ewc_code: Annotated[str | None, Parameter(description="One List of Waste code.")] = None,
        chapter: Annotated[
            str | None, Parameter(pattern=r"^\d{2}(\d{2})?$", description="`03` or `0301`.")
        ] = None,
        resource_class: FromQuery[str | None] = None,
        q: Annotated[
            str | None, Parameter(max_length=200, description="Words in title or text.")
        ] = None,
        company_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[domain.ListingStatus | None] = None,
        mine: Annotated[bool, Parameter(description="Only the caller's own listings.")] = False,
        min_quantity: FromQuery[Decimal | None] = None,
        max_quantity: FromQuery[Decimal | None] = None,
        unit: Annotated[Unit | None, Parameter(description="Unit of min/max_quantity.")] = None,
        lat: Annotated[float | None, Parameter(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Parameter(ge=-180, le=180)] = None,
        within_km: Annotated[float | None, Parameter(gt=0, le=20000)] = None,
        sort: Annotated[
            Literal["newest", "oldest", "quantity_asc", "quantity_desc"], Parameter()
        ] = "newest",
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> ListingPage:
        """Search the park's open listings (and, for a company, its own in any state)."""
        viewer = principal_of(request, "listings:read").company_id
        code = None
        if ewc_code is not None:
            try:
                code = domain.waste_code(ewc_code).code
            except ValueError as exc:
                raise _query_error("ewc_code", exc) from None
        if resource_class is not None and resource_class not in RESOURCE_CLASSES:
            raise _query_error(
                "resource_class",
                f"unknown; one of {', '.join(RESOURCE_CLASSES)}",
                code="listing.resource_class_unknown",
                value=resource_class,
            )
        for name, bound in (("min_quantity", min_quantity), ("max_quantity", max_quantity)):
            if bound is not None and not (bound.is_finite() and 0 <= bound <= domain.MAX_QUANTITY):
                raise _query_error(name, f"a number from 0 to {domain.MAX_QUANTITY:f}")
        if (min_quantity is not None or max_quantity is not None) and unit is None:
            raise _query_error(
                "unit", "give the unit of min_quantity and max_quantity", code="search.unit_missing"
            )
        if (lat is None) != (lon is None) or (within_km is not None and lat is None):
            raise _query_error(
                "lat", "give lat, lon and within_km together", code="search.distance_incomplete"
            )
        if mine and viewer is None:
            raise _query_error("mine", "only a company has listings of its own")
        query = storage.ListingQuery(
            viewer=viewer,
            mine=mine,
            kind=kind,
            ewc_code=code,
            chapter=chapter,
            resource_class=resource_class,
            text=q,
            company_id=company_id,
            status=status,
            dimension=dimension(unit) if unit else None,
            min_base=to_base(min_quantity, unit) if min_quantity is not None and unit else None,
            max_base=to_base(max_quantity, unit) if max_quantity is not None and unit else None,
            near=(lat, lon) if lat is not None and lon is not None else None,
            within_km=within_km if within_km is not None else (50.0 if lat is not None else None),
            sort=sort,
            after=_decode_cursor(cursor, sort) if cursor else None,
            limit=limit + 1,
        )
        async with pool.acquire() as conn:
            rows = await storage.search_listings(conn, query)
        page = rows[:limit]
        return ListingPage(
            items=[Listing.of(r, viewer) for r in page],
            next_cursor=_encode_cursor(sort, page[-1]) if len(rows) > limit else None,
        )

    @get("/{listing_id:uuid}", operation_id="get_listing")
    async def read(
        self,
        request: Request[Any, Any, Any],
        listing_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Listing:
        """One listing: the caller's own in any state, or another company's open one."""
        viewer = principal_of(request, "listings:read").company_id
        async with pool.acquire() as conn:
            row = await storage.get_visible_listing(conn, listing_id, viewer)
        if row is None:
            raise Problem(404, "Not found", f"no listing {listing_id} visible to you")
        return Listing.of(row, viewer)

    @patch("/{listing_id:uuid}", operation_id="update_listing")
    async def update(
        self,
        request: Request[Any, Any, Any],
        listing_id: FromPath[uuid.UUID],
        data: Annotated[
            ListingChange,
            example_body(
                ("Less left, a lower price", {"quantity": "250", "price_per_unit_ore": 4000}),
                (
                    "A stricter limit",
                    {"quality": [{"property": "moisture", "unit": "%", "max": 40}]},
                ),
                (
                    "Moved to another plot",
                    {"location": {"plot": "C2", "latitude": 59.2471, "longitude": 11.0355}},
                ),
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Listing:
        """Change quantity, price, window, quality, transport, location or text of your
        listing."""
        company_id = company_of(request, "listings:write")
        sent = data.model_dump(include=data.model_fields_set)
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.own_listing_for_update(conn, listing_id, company_id)
            if row is None:
                raise _not_found(listing_id)
            await refuse_if_suspended(conn, company_id)
            if row.status in ("withdrawn", "closed"):
                raise Problem(409, "Conflict", f"the listing is {row.status}; it cannot change")
            reserved = (
                await storage.reserved_by_period(conn, listing_id)
                if data.quantity is not None
                else {}
            )
            try:
                changes = rules.changes_to(row, sent, reserved)
            except Refusal as refused:
                raise Problem.invalid(refused, refused.field) from None
            updated = await storage.update_listing(conn, listing_id, changes)
            if updated.status == "open":
                await publish_event(
                    conn,
                    request,
                    ListingUpdated(
                        **facts(updated, await storage.shares_terms(conn, company_id)),
                        updated_at=updated.updated_at,
                        changed=tuple(sorted(data.model_fields_set)),
                    ),
                    updated.id,
                )
        return Listing.of(updated, company_id)

    @post("/{listing_id:uuid}/publish", status_code=HTTP_200_OK, operation_id="publish_listing")
    async def publish(
        self,
        request: Request[Any, Any, Any],
        listing_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Listing:
        """Open a draft: the park sees it and the matcher considers it."""
        company_id = company_of(request, "listings:write")
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.own_listing_for_update(conn, listing_id, company_id)
            if row is None:
                raise _not_found(listing_id)
            if row.status != "draft":
                raise Problem(
                    409, "Conflict", f"only a draft can be published; this is {row.status}"
                )
            await refuse_if_suspended(conn, company_id)
            if row.resource_class:
                try:
                    domain.check_required_quality(row.resource_class, row.quality)
                except ValueError as exc:
                    raise _query_error("quality", exc) from None
            if row.kind == "need" and row.hazardous:
                await _check_permit(conn, company_id, row.ewc_code or "")
            opened = await storage.update_listing(
                conn, listing_id, {"status": "open", "published_at": datetime.now(UTC)}
            )
            assert opened.published_at is not None
            await publish_event(
                conn,
                request,
                ListingPublished(
                    **facts(opened, await storage.shares_terms(conn, company_id)),
                    published_at=opened.published_at,
                ),
                opened.id,
            )
        return Listing.of(opened, company_id)

    @post("/{listing_id:uuid}/withdraw", status_code=HTTP_200_OK, operation_id="withdraw_listing")
    async def withdraw(
        self,
        request: Request[Any, Any, Any],
        listing_id: FromPath[uuid.UUID],
        pool: NamedDependency[Pool],
    ) -> Listing:
        """Take your listing off the exchange; agreed contracts are not affected."""
        company_id = company_of(request, "listings:write")
        async with pool.acquire() as conn, conn.transaction():
            row = await storage.own_listing_for_update(conn, listing_id, company_id)
            if row is None:
                raise _not_found(listing_id)
            if row.status in ("withdrawn", "closed"):
                raise Problem(409, "Conflict", f"the listing is already {row.status}")
            withdrawn = await storage.update_listing(conn, listing_id, {"status": "withdrawn"})
            if row.status != "draft":
                await publish_event(
                    conn,
                    request,
                    ListingWithdrawn(
                        listing_id=row.id,
                        company_id=row.company_id,
                        withdrawn_at=withdrawn.updated_at,
                    ),
                    row.id,
                )
        return Listing.of(withdrawn, company_id)
