"""The matcher's knowledge base, read from ``services/matching/data``: which resources
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
