"""A park described in a JSON file, for the optimiser: companies, listings, link costs.

The same model is the body of the park administrators' optimisation API, so the file and
the API share one documented schema (``docs/park.schema.json``).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.matching.domain import MAX_DISTANCE_KM, OpenListing
from services.matching.optimiser import Goal, Outcome, Plan, optimise
from shared.events import QualitySpec, TransportMode
from shared.ewc import UnknownWasteCode, lookup
from shared.knowledge import use_names
from shared.resources import RESOURCE_CLASSES
from shared.units import Unit

PARK_NAMESPACE = uuid.UUID("0b6c2f57-90a4-4c8e-8f0e-3f7f1b7a3c55")

Objective = Literal["surplus", "co2e", "mix"]


class ParkCompany(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, description="Your name for the company.")
    name: str | None = Field(default=None, max_length=200)
    permits: list[str] = Field(
        default=[], description="Hazardous List of Waste codes it may receive."
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("permits")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        return [_waste_code(v) for v in values]


class ParkListing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, description="Your name for the listing.")
    company: str = Field(description="The `id` of its company.")
    kind: Literal["offer", "need"]
    resource: str | None = Field(
        default=None,
        description="A List of Waste code (`03 01 05` or `030105`) or `class:<name>` "
        "(`class:heat`, `class:process_water`, ...); a need may name a `use` instead.",
        examples=["03 01 05", "class:process_water"],
    )
    use: str | None = Field(
        default=None,
        description="A need's use (`boiler_fuel`, `cement_raw_material`, ...): every resource "
        "the knowledge base allows for it serves the need.",
    )
    accepts: list[str] = Field(
        default=[], description="A need's other acceptable codes or `class:<name>`."
    )
    transport_mode: TransportMode | None = Field(
        default=None, description="`road`, `pipe`, `ship` or `rail`; default: the class's."
    )
    max_distance_km: float | None = Field(
        default=None, gt=0, description="Farthest it may travel; default: by transport."
    )
    title: str | None = Field(default=None, max_length=200)
    quantity: Decimal = Field(gt=0, description="Supply (offer) or demand (need), in `unit`.")
    unit: Unit
    price_per_unit_nok: Decimal | None = Field(
        default=None,
        description="Asked (offer) or bid (need) per unit; negative for a gate fee. "
        "A listing without a price adds no money to the objective.",
    )
    quality: list[QualitySpec] = Field(
        default=[],
        description="Offers: the values they have. Needs: the limits their blended supply "
        "must keep (flow-weighted).",
    )
    available_from: date | None = None
    available_until: date | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90, description="Else the company's.")
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: str | None) -> str | None:
        return None if value is None else _resource_name(value)

    @field_validator("accepts")
    @classmethod
    def _accepts(cls, values: list[str]) -> list[str]:
        return [_resource_name(v) for v in values]

    @field_validator("use")
    @classmethod
    def _use(cls, value: str | None) -> str | None:
        if value is not None and value not in use_names():
            raise ValueError(f"unknown use; known: {', '.join(sorted(use_names()))}")
        return value

    @model_validator(mode="after")
    def _named(self) -> ParkListing:
        if self.resource is None and (self.kind == "offer" or self.use is None):
            raise ValueError("give a resource (or, for a need, a use)")
        return self


def _resource_name(value: str) -> str:
    if value.startswith("class:"):
        if value.removeprefix("class:") not in RESOURCE_CLASSES:
            known = ", ".join(sorted(RESOURCE_CLASSES))
            raise ValueError(f"unknown resource class; known: {known}")
        return value
    return _waste_code(value)


class ParkLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer: str
    need: str
    fixed_cost_nok: Decimal = Field(ge=0, description="Paid once if the link carries any flow.")


class GoalSpec(BaseModel):
    """What the park maximises, and the prices that turn tonnes and km into NOK."""

    model_config = ConfigDict(extra="forbid")

    objective: Objective = Field(
        default="surplus",
        description="`surplus`: NOK, the needs' prices minus the offers' (less transport cost "
        "and fixed link costs); `co2e`: kg CO2e avoided net of road transport; `mix`: "
        "surplus plus CO2e valued at `carbon_price_nok_per_t`.",
    )
    carbon_price_nok_per_t: float | None = Field(
        default=None, ge=0, description="Required for `mix`: NOK per tonne CO2e."
    )
    transport_cost_nok_per_tkm: float | None = Field(
        default=None,
        ge=0,
        description="Road transport cost per tonne-km of straight-line distance; not counted "
        "when absent (the exchange has no sourced default).",
    )
    max_distance_km: float | None = Field(
        default=None,
        gt=0,
        description="A cap on every link's distance; none: each listing's own maximum (the "
        f"default for its transport, {MAX_DISTANCE_KM:g} km by road).",
    )
    link_fixed_cost_nok: float = Field(
        default=0.0, ge=0, description="Fixed cost of every link not in `links`."
    )
    time_limit_seconds: float = Field(default=60, gt=0, le=3600)

    @model_validator(mode="after")
    def _carbon_price(self) -> GoalSpec:
        if self.objective == "mix" and self.carbon_price_nok_per_t is None:
            raise ValueError("the `mix` objective needs `carbon_price_nok_per_t`")
        return self

    def goal(self) -> Goal:
        return Goal(
            objective=self.objective,
            carbon_price_nok_per_t=self.carbon_price_nok_per_t or 0.0,
            transport_cost_nok_per_tkm=self.transport_cost_nok_per_tkm,
            max_distance_km=self.max_distance_km,
            link_fixed_cost_nok=self.link_fixed_cost_nok,
            time_limit_seconds=self.time_limit_seconds,
        )


class Park(GoalSpec):
    """A park to optimise: who has what, who needs what, and what links cost to open."""

    name: str = Field(default="park", max_length=200)
    companies: list[ParkCompany] = Field(default=[])
    listings: list[ParkListing]
    links: list[ParkLink] = Field(default=[], description="Fixed costs of particular links.")

    @model_validator(mode="after")
    def _references(self) -> Park:
        companies = {c.id for c in self.companies}
        if len(companies) != len(self.companies):
            raise ValueError("company ids must be unique")
        listings = {item.id: item for item in self.listings}
        if len(listings) != len(self.listings):
            raise ValueError("listing ids must be unique")
        for item in self.listings:
            if self.companies and item.company not in companies:
                raise ValueError(f"listing {item.id!r}: no company {item.company!r}")
        for link in self.links:
            if listings.get(link.offer) is None or listings[link.offer].kind != "offer":
                raise ValueError(f"link: no offer {link.offer!r}")
            if listings.get(link.need) is None or listings[link.need].kind != "need":
                raise ValueError(f"link: no need {link.need!r}")
        return self

    def company_uuid(self, company: str) -> uuid.UUID:
        return uuid.uuid5(PARK_NAMESPACE, f"company/{company}")

    def open_listings(self) -> list[OpenListing]:
        """The park's listings as the matcher sees them (ids derived from the names)."""
        sites = {c.id: c for c in self.companies}
        found = []
        for item in self.listings:
            site = sites.get(item.company)
            resource = item.resource or ""
            code = None if not resource or resource.startswith("class:") else resource
            found.append(
                OpenListing(
                    listing_id=uuid.uuid5(PARK_NAMESPACE, f"listing/{item.id}"),
                    company_id=self.company_uuid(item.company),
                    kind=item.kind,
                    ewc_code=code,
                    resource_class=resource.removeprefix("class:")
                    if resource and not code
                    else None,
                    title=item.title or item.id,
                    quantity=item.quantity,
                    unit=item.unit,
                    available_from=item.available_from,
                    available_until=item.available_until,
                    quality=tuple(q.model_dump() for q in item.quality),
                    latitude=item.latitude if item.latitude is not None else _at(site, "lat"),
                    longitude=item.longitude if item.longitude is not None else _at(site, "lon"),
                    price_per_unit_ore=None
                    if item.price_per_unit_nok is None
                    else int((item.price_per_unit_nok * 100).to_integral_value()),
                    accepts=tuple(item.accepts),
                    use=item.use,
                    transport_mode=item.transport_mode,
                    max_distance_km=item.max_distance_km,
                )
            )
        return found

    def optimise(self) -> Plan:
        return optimise(self.open_listings(), self.goal(), self.permits(), self.fixed_costs())

    def permits(self) -> dict[uuid.UUID, frozenset[str]]:
        return {self.company_uuid(c.id): frozenset(c.permits) for c in self.companies}

    def fixed_costs(self) -> dict[tuple[uuid.UUID, uuid.UUID], Decimal]:
        def key(name: str) -> uuid.UUID:
            return uuid.uuid5(PARK_NAMESPACE, f"listing/{name}")

        return {(key(link.offer), key(link.need)): link.fixed_cost_nok for link in self.links}


def _at(company: ParkCompany | None, which: str) -> float | None:
    if company is None:
        return None
    return company.latitude if which == "lat" else company.longitude


def _waste_code(text: str) -> str:
    try:
        return lookup(text).code
    except UnknownWasteCode as exc:
        raise ValueError(str(exc)) from exc


class FlowReport(BaseModel):
    offer_id: uuid.UUID
    need_id: uuid.UUID
    offer: str = Field(description="The offer's title (its id in a park file).")
    need: str
    supplier_company_id: uuid.UUID
    receiver_company_id: uuid.UUID
    resource: str
    quantity: float = Field(description="In `unit`, the need's unit.")
    unit: str
    surplus_nok: float
    co2e_net_kg: float = Field(
        description="CO2e avoided net of transport; for a pair whose CO2e is not estimated "
        "(`co2e_estimated` false), the least any sourced row estimates for its quantity's "
        "dimension, as the matcher ranks such a pair, less transport."
    )
    co2e_estimated: bool = True
    fixed_cost_nok: float


class OutcomeReport(BaseModel):
    objective: float = Field(
        description="The goal's value: NOK, or kg CO2e for `co2e`. A flow whose CO2e is not "
        "estimated counts in it at the floor its `co2e_net_kg` gives."
    )
    surplus_nok: float
    co2e_net_kg: float = Field(
        description="CO2e avoided net of transport by the flows whose CO2e is estimated; the "
        "others' floors are not CO2e avoided and are left out."
    )
    fixed_costs_nok: float
    flows: list[FlowReport]


class PartReport(BaseModel):
    """One independent part of the park, solved on its own (see the optimiser's ``split``)."""

    offers: int
    needs: int
    links: int = Field(description="Links in the part's model, after pruning.")
    binaries: int
    status: str = Field(description="`optimal`, `time limit` or `failed`.")
    objective: float = Field(description="The part's plan, in the objective's unit.")
    greedy: float = Field(description="The greedy plan's share of the part, its start.")
    bound: float | None = Field(description="The solver's bound on the part.")
    gap: float | None = Field(description="Relative gap of the part's plan to its bound.")
    solve_seconds: float


class PlanReport(BaseModel):
    """The optimiser's plan beside the greedy pairwise baseline, with the solver's report."""

    objective: Objective
    status: str = Field(description="`optimal`, `time limit` or `failed`.")
    gap: float | None = Field(
        description="Relative gap to the bound (the sum of the parts' bounds); 0 at optimum."
    )
    bound: float | None = Field(description="No plan can be worth more than this.")
    solve_seconds: float
    links: int = Field(description="Feasible offer → need links considered.")
    variables: int
    binaries: int
    pruned: int = Field(
        default=0, description="Links no optimal plan needs, left out of the model."
    )
    parts: list[PartReport] = Field(
        default=[], description="The independent parts solved one by one, largest first."
    )
    improvement: float = Field(description="Plan minus greedy, in the objective's unit.")
    plan: OutcomeReport
    greedy: OutcomeReport
    notes: list[str]

    @classmethod
    def of(cls, plan: Plan) -> PlanReport:
        return cls(
            objective=plan.goal.objective,
            status=plan.status,
            gap=plan.gap,
            bound=plan.bound,
            solve_seconds=round(plan.solve_seconds, 4),
            links=plan.links,
            variables=plan.variables,
            binaries=plan.binaries,
            pruned=plan.pruned,
            parts=[
                PartReport(
                    offers=p.offers,
                    needs=p.needs,
                    links=p.links,
                    binaries=p.binaries,
                    status=p.status,
                    objective=p.objective,
                    greedy=p.greedy,
                    bound=p.bound,
                    gap=p.gap,
                    solve_seconds=round(p.solve_seconds, 4),
                )
                for p in plan.parts
            ],
            improvement=plan.improvement,
            plan=_outcome(plan.best),
            greedy=_outcome(plan.greedy),
            notes=list(plan.notes),
        )


def _outcome(outcome: Outcome) -> OutcomeReport:
    return OutcomeReport(
        objective=outcome.objective,
        surplus_nok=outcome.surplus_nok,
        co2e_net_kg=outcome.co2e_net_kg,
        fixed_costs_nok=outcome.fixed_costs_nok,
        flows=[
            FlowReport(
                offer_id=f.offer.listing_id,
                need_id=f.need.listing_id,
                offer=f.offer.title,
                need=f.need.title,
                supplier_company_id=f.offer.company_id,
                receiver_company_id=f.need.company_id,
                resource=f.offer.resource,
                quantity=f.quantity,
                unit=f.unit,
                surplus_nok=f.surplus_nok,
                co2e_net_kg=f.co2e_net_kg,
                co2e_estimated=f.co2e_estimated,
                fixed_cost_nok=f.fixed_cost_nok,
            )
            for f in outcome.flows
        ],
    )
