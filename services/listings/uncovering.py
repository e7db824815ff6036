"""HTTP routes for uncovering symbioses: the resource picker's search, the uses a need may
name, a company's likely by-products and needs from its NACE codes (each one a draft
listing in one click), and for park administrators the latent synergies between companies
that have listed nothing yet and the park's open loops with the kinds of company that
would close them."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED
from pydantic import BaseModel, ConfigDict, Field

from services.listings import storage
from services.listings.api import Listing
from services.listings.suggestions import SuggestionView, suggestion_views
from shared import knowledge, uncovering, vocabulary
from shared.db import Pool
from shared.ewc import catalogue
from shared.http import Problem, company_of, example_body, principal_of
from shared.resources import RESOURCE_CLASSES
from shared.units import Unit, dimension, to_base

ENERGY_USES = {"space_heating", "process_heat", "aquaculture_heat", "process_steam", "cooling"}
ENERGY_USES |= {"gas_fuel"}
WATER_USES = {"process_water", "cooling_water", "irrigation", "aquaculture_water"}


class ResourceHit(BaseModel):
    resource: str = Field(description="A List of Waste code (`030105`) or `class:<name>`.")
    display: str = Field(description="The code as written in the List of Waste (`03 01 05*`).")
    label: str
    label_nb: str = Field(description="In bokmål where the team has a word; else English.")
    hazardous: bool
    matched: str = Field(description="The word or description that matched.")


class UseView(BaseModel):
    use: str
    label: str
    label_nb: str
    resources: int = Field(description="Codes and classes the knowledge base allows for it.")


class DraftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["offer", "need"]
    nace: str
    resource: str | None = None
    use: str | None = None
    language: Literal["en", "nb"] = Field(
        default="en",
        description="The language of the draft's title and description: `nb` writes them in "
        "the exchange's own bokmål translation (not the official texts), `en` (the default) in "
        "English.",
    )


def _draft_title(chosen: SuggestionView, language: str) -> str:
    return (chosen.label_nb if language == "nb" else chosen.label)[:200]


def _draft_description(chosen: SuggestionView, language: str) -> str:
    """Where the draft came from, in the language asked for."""
    activity = knowledge.activity_name(chosen.nace, language)
    basis = knowledge.prose(chosen.basis, language)
    if language == "nb":
        text = (
            f"Foreslått ut fra virksomheten {chosen.nace} ({activity}): {basis}. "
            "Fyll inn mengde, enhet og kvalitet før du publiserer."
        )
    else:
        text = (
            f"Suggested from your activity {chosen.nace} ({activity}): {basis}. "
            "Set the quantity, unit and quality before you publish."
        )
    return text[:5000]


class ActivityView(BaseModel):
    nace: str
    name: str
    uses: list[str] = Field(description="The uses (or resources) that connect it.")
    score: float
    precedents: list[str] = Field(
        default_factory=list,
        description=(
            "Places where a company of this kind took the resource, or one of its class, in a "
            "documented exchange; such kinds of company are ranked first."
        ),
    )


class CompanyRef(BaseModel):
    id: uuid.UUID
    name: str
    nace_codes: list[str]
    plot: str | None


class LinkView(BaseModel):
    resource: str
    use: str
    basis: str
    permit: bool
    treatment: str


class PrecedentView(BaseModel):
    """A documented exchange elsewhere: a company of the receiver's activity took this
    resource at this place."""

    resource: str
    place: str
    source: str


class SynergyView(BaseModel):
    supplier: CompanyRef
    receiver: CompanyRef
    links: list[LinkView]
    distance_km: float | None
    score: float
    precedents: list[PrecedentView] = Field(
        default_factory=list,
        description=(
            "Documented exchanges elsewhere in which a company of the receiver's activity "
            "took one of the supplier's likely by-products (or one of its class)."
        ),
    )


class OpenLoop(BaseModel):
    """An open listing nothing in the park answers, and who would close it."""

    listing_id: uuid.UUID
    company: CompanyRef
    kind: str
    title: str
    resource: str | None
    use: str | None
    recruit: list[ActivityView] = Field(
        description="Kinds of company (NACE activities) that would close the loop."
    )
    best_plot: str | None = Field(
        description="Where such a company would best sit: by this listing's plot."
    )


def _ref(row: storage.CompanyRow) -> CompanyRef:
    return CompanyRef(id=row.id, name=row.name, nace_codes=row.nace_codes, plot=row.plot)


def _activities(found: list[uncovering.Activity]) -> list[ActivityView]:
    return [
        ActivityView(
            nace=a.nace,
            name=a.name,
            uses=list(a.uses),
            score=a.score,
            precedents=list(a.precedents),
        )
        for a in found
    ]


def _draft_unit(resource: str | None, use: str | None) -> Unit:
    if resource is not None and resource.startswith("class:"):
        return RESOURCE_CLASSES[resource.removeprefix("class:")].units[0]
    if use in ENERGY_USES:
        return "MWh"
    if use in WATER_USES:
        return "m3"
    return "t"


class ResourceController(Controller):
    path = "/resources"
    tags = ["resources"]

    @get("/search", operation_id="search_resources")
    async def search(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[
            str,
            Parameter(
                min_length=1,
                max_length=100,
                description="Digits of a code, or words in bokmål or English (gips, slam, "
                "aske, sagflis, fiskeslo, myse, gjødsel, yeast, molasses, ...); typos and "
                "inflected forms are forgiven.",
            ),
        ],
        limit: Annotated[int, Parameter(ge=1, le=50)] = 15,
    ) -> list[ResourceHit]:
        """Find List of Waste codes and resource classes by what people call them."""
        principal_of(request, "listings:read")
        return [
            ResourceHit(
                resource=h.resource,
                display=h.display,
                label=h.label,
                label_nb=h.label_nb,
                hazardous=h.hazardous,
                matched=h.matched,
            )
            for h in vocabulary.find(q, limit)
        ]

    @get("/uses", operation_id="list_uses")
    async def uses(self, request: Request[Any, Any, Any]) -> list[UseView]:
        """The uses a need may name (`use`), each with how many codes and classes serve it."""
        principal_of(request, "listings:read")
        return [
            UseView(
                use=u.use,
                label=u.label,
                label_nb=u.label_nb,
                resources=len(knowledge.serving(u.use)),
            )
            for u in knowledge.use_names().values()
        ]


class SuggestionController(Controller):
    path = "/companies/me/suggestions"
    tags = ["companies"]

    @get("/", operation_id="list_my_suggestions")
    async def mine(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[SuggestionView]:
        """Your likely by-products and needs, from your NACE codes, each with its basis."""
        company_id = company_of(request, "listings:read")
        async with pool.acquire() as conn:
            company = await storage.get_company(conn, company_id)
        if company is None:
            raise Problem(404, "Not found", "the company of this credential no longer exists")
        return suggestion_views(company.nace_codes)

    @post("/draft", status_code=HTTP_201_CREATED, operation_id="draft_from_suggestion")
    async def draft(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        data: Annotated[
            DraftRequest,
            example_body(
                ("A sawmill's sawdust", {"kind": "offer", "nace": "16.11", "resource": "030105"}),
                (
                    "A cement works' raw material",
                    {"kind": "need", "nace": "23.51", "use": "cement_raw_material"},
                ),
            ),
        ],
    ) -> Listing:
        """Turn one of your suggestions into a draft listing (only your company sees it):
        fill in the quantity, unit and quality, then publish it."""
        company_id = company_of(request, "listings:write")
        async with pool.acquire() as conn, conn.transaction():
            company = await storage.get_company(conn, company_id)
            if company is None:
                raise Problem(404, "Not found", "the company of this credential no longer exists")
            chosen = next(
                (
                    s
                    for s in suggestion_views(company.nace_codes)
                    if (s.kind, s.nace, s.resource, s.use)
                    == (data.kind, data.nace, data.resource, data.use)
                ),
                None,
            )
            if chosen is None:
                raise Problem(
                    400,
                    "The request is not valid",
                    "not one of your company's suggestions (GET /companies/me/suggestions)",
                    errors=[
                        {
                            "field": "resource" if data.kind == "offer" else "use",
                            "message": "not one of your suggestions",
                        }
                    ],
                )
            unit = _draft_unit(chosen.resource, chosen.use)
            code = None
            resource_class = None
            if chosen.resource is not None:
                if chosen.resource.startswith("class:"):
                    resource_class = chosen.resource.removeprefix("class:")
                else:
                    code = chosen.resource
            entry = catalogue().get(code or "")
            quantity = Decimal(1)
            row = await storage.insert_listing(
                conn,
                {
                    "id": uuid.uuid4(),
                    "company_id": company_id,
                    "kind": chosen.kind,
                    "ewc_code": code,
                    "resource_class": resource_class,
                    "use": chosen.use,
                    "hazardous": bool(entry and entry.hazardous),
                    "title": _draft_title(chosen, data.language),
                    "description": _draft_description(chosen, data.language),
                    "quantity": quantity,
                    "remaining_quantity": quantity,
                    "unit": unit,
                    "dimension": dimension(unit),
                    "quantity_base": to_base(quantity, unit),
                    "available_from": date.today(),
                    "quality": [],
                    "plot": company.plot,
                    "latitude": company.latitude,
                    "longitude": company.longitude,
                    "status": "draft",
                },
            )
        return Listing.of(row, company_id)


class ParkController(Controller):
    path = "/park"
    tags = ["park"]

    @get("/latent-synergies", operation_id="latent_synergies")
    async def latent(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[Pool],
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> list[SynergyView]:
        """Park administrators: likely exchanges between companies that have listed
        nothing yet, from their NACE activities, ranked, each with its rows."""
        principal_of(request, "park:read")
        async with pool.acquire() as conn:
            rows = await storage.companies_without_listings(conn)
        by_id = {str(r.id): r for r in rows}
        found = uncovering.latent_synergies(
            [
                uncovering.Company(
                    str(r.id), r.name, tuple(r.nace_codes), r.latitude, r.longitude, r.plot
                )
                for r in rows
            ],
            limit,
        )
        return [
            SynergyView(
                supplier=_ref(by_id[s.supplier.id]),
                receiver=_ref(by_id[s.receiver.id]),
                links=[LinkView(**vars(link)) for link in s.links],
                distance_km=s.distance_km,
                score=s.score,
                precedents=[
                    PrecedentView(resource=p.resource, place=p.place, source=p.source)
                    for p in s.precedents
                ],
            )
            for s in found
        ]

    @get("/open-loops", operation_id="open_loops")
    async def open_loops(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> list[OpenLoop]:
        """Park administrators: the open offers nobody in the park takes and the open needs
        nobody serves, each with the kinds of company (NACE activities) that would close
        it and where such a company would best sit. This is the recruitment list."""
        principal_of(request, "park:read")
        async with pool.acquire() as conn:
            listings = await storage.open_listings(conn)
            companies = {r.id: r for r in await storage.all_companies(conn)}
        loose = uncovering.open_loops(
            [
                uncovering.Loose(
                    str(row.id),
                    str(row.company_id),
                    row.kind,
                    row.ewc_code or (f"class:{row.resource_class}" if row.resource_class else None),
                    row.use,
                    tuple(row.accepts),
                    row.latitude,
                    row.longitude,
                    row.max_distance_km,
                    row.transport_mode,
                )
                for row in listings
            ]
        )
        rows = {str(row.id): row for row in listings}
        found = []
        for item, recruit in loose:
            row = rows[item.id]
            found.append(
                OpenLoop(
                    listing_id=row.id,
                    company=_ref(companies[row.company_id]),
                    kind=row.kind,
                    title=row.title,
                    resource=item.resource,
                    use=item.use,
                    recruit=_activities(recruit),
                    best_plot=row.plot,
                )
            )
        return found
