"""The knowledge base, read from ``shared/data``: which resources
serve which needs, and the emission factors impact accounting uses. No I/O beyond reading
the shipped files once."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from shared.ewc import catalogue
from shared.resources import RESOURCE_CLASSES
from shared.units import convert, is_unit

DATA = Path(__file__).parent / "data"


class KnowledgeError(ValueError):
    """A knowledge-base file is malformed; the message names the file and row."""


@dataclass(frozen=True)
class Use:
    """Why an offer's resource can serve a need's resource."""

    need_resource: str
    offer_resource: str
    use: str
    basis: str


@dataclass(frozen=True)
class EmissionFactor:
    key: str
    description: str
    unit: str
    value: Decimal
    source: str
    year: str  # as the source gives it: "2025", or "v2.0 (c.2011; year UNVERIFIED)"
    notes: str


def _check_resource(resource: str, where: str) -> None:
    if resource.startswith("class:"):
        if resource.removeprefix("class:") not in RESOURCE_CLASSES:
            raise KnowledgeError(f"{where}: unknown resource class {resource!r}")
    elif resource not in catalogue():
        raise KnowledgeError(f"{where}: {resource!r} is not a List of Waste code")


@cache
def uses() -> dict[str, dict[str, Use]]:
    """need resource → offer resource → the use that links them."""
    table: dict[str, dict[str, Use]] = {}
    path = DATA / "uses.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name}:{line}"
            use = Use(row["need_resource"], row["offer_resource"], row["use"], row["basis"])
            for resource in (use.need_resource, use.offer_resource):
                _check_resource(resource, where)
            if not use.use.strip() or not use.basis.strip():
                raise KnowledgeError(f"{where}: every row needs a use and its basis")
            if use.need_resource == use.offer_resource:
                raise KnowledgeError(f"{where}: a resource always serves itself; drop the row")
            if use.offer_resource in table.get(use.need_resource, {}):
                raise KnowledgeError(f"{where}: duplicate row")
            table.setdefault(use.need_resource, {})[use.offer_resource] = use
    return table


def accepted_by(need_resource: str) -> set[str]:
    """Every resource an offer may have to serve this need, the need's own included."""
    return {need_resource, *uses().get(need_resource, {})}


def served_by(offer_resource: str) -> set[str]:
    """Every need resource this offer's resource may serve, its own included."""
    return {offer_resource} | {need for need, offers in uses().items() if offer_resource in offers}


def link(offer_resource: str, need_resource: str) -> Use | None:
    """How the offer serves the need, or None when it does not."""
    if offer_resource == need_resource:
        return Use(need_resource, offer_resource, "the same resource", "identical resource")
    return uses().get(need_resource, {}).get(offer_resource)


@cache
def emission_factors() -> dict[str, EmissionFactor]:
    factors: dict[str, EmissionFactor] = {}
    path = DATA / "emission-factors.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name}:{line}"
            try:
                factor = EmissionFactor(
                    key=row["key"],
                    description=row["description"],
                    unit=row["unit"],
                    value=Decimal(row["value"]),
                    source=row["source"],
                    year=row["year"].strip(),
                    notes=row["notes"] or "",
                )
            except (InvalidOperation, ValueError, KeyError) as exc:
                raise KnowledgeError(f"{where}: {exc!r}") from exc
            if not factor.source.strip() or not factor.year:
                raise KnowledgeError(f"{where}: every factor needs its source and year")
            if factor.key in factors:
                raise KnowledgeError(f"{where}: duplicate key {factor.key}")
            factors[factor.key] = factor
    return factors


@dataclass(frozen=True)
class Impact:
    """What one unit of a resource exchanged avoids: the production it replaces (less the
    reprocessing the closed-loop row already counts) and the disposal route it escapes."""

    resource: str
    replaces: str
    replaces_factor: str
    reprocessing_factor: str
    counterfactual: str
    counterfactual_factor: str
    basis: str

    @property
    def factor_keys(self) -> tuple[str, ...]:
        return tuple(
            key
            for key in (self.replaces_factor, self.reprocessing_factor, self.counterfactual_factor)
            if key
        )


@cache
def impacts() -> dict[str, Impact]:
    """resource → its impact row; a resource without a row is not estimated."""
    table: dict[str, Impact] = {}
    factors = emission_factors()
    path = DATA / "impact.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name}:{line}"
            impact = Impact(**{name: (value or "").strip() for name, value in row.items()})
            _check_resource(impact.resource, where)
            if impact.resource in table:
                raise KnowledgeError(f"{where}: duplicate row for {impact.resource}")
            if not impact.basis or not impact.factor_keys:
                raise KnowledgeError(f"{where}: a row needs a factor and its basis")
            if impact.reprocessing_factor and not impact.replaces_factor:
                raise KnowledgeError(f"{where}: reprocessing without the production it replaces")
            units = set()
            for key in impact.factor_keys:
                if key not in factors:
                    raise KnowledgeError(f"{where}: unknown emission factor {key}")
                units.add(factors[key].unit)
            if len(units) != 1:
                raise KnowledgeError(f"{where}: factors in different units {sorted(units)}")
            table[impact.resource] = impact
    return table


# Road freight, full fuel life cycle: tank-to-wheel plus well-to-tank (DESNZ 2025).
TRANSPORT_FACTORS = ("freight.hgv.all", "freight.hgv.all.wtt")


@dataclass(frozen=True)
class Avoided:
    """kg CO2e an exchange avoids (None: not estimated), the factors, and the basis."""

    kg: float | None
    factors: tuple[str, ...]
    basis: str


def avoided(resource: str, quantity: Decimal, unit: str) -> Avoided:
    """What exchanging ``quantity`` of ``resource`` avoids: production replaced less the
    reprocessing the closed-loop row counts, plus the counterfactual disposal route, each per
    the factor's unit. Without a sourced row, nothing is estimated."""
    impact = impacts().get(resource)
    if impact is None:
        return Avoided(None, (), f"not estimated: no sourced factors for {resource} yet")
    table = emission_factors()
    per = table[impact.factor_keys[0]].unit.rsplit("/", 1)[-1]
    amount = convert(quantity, unit, per) if is_unit(per) else None
    if amount is None:
        return Avoided(
            None, (), f"not estimated: the factors are per {per}, the trade is in {unit}"
        )

    def factor(key: str) -> Decimal:
        return table[key].value if key else Decimal(0)

    per_unit = (
        factor(impact.replaces_factor)
        - factor(impact.reprocessing_factor)
        + factor(impact.counterfactual_factor)
    )
    replaced = (
        f"replaces {impact.replaces}"
        if impact.replaces
        else "the product it replaces is not estimated"
    )
    basis = f"{replaced}; otherwise sent to {impact.counterfactual}. {impact.basis}"
    return Avoided(float(per_unit * amount), impact.factor_keys, basis)
