"""A company's (or the park's) own figures for a period, from the impact ledger, and the
goals Viken Park reports them against. No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Totals:
    """A company's (or the park's) sums over the impact ledger for a period."""

    deliveries: int
    supplied_tonnes: Decimal
    received_tonnes: Decimal
    earned_ore: Decimal  # sums of øre: PostgreSQL's sum of bigint is numeric
    paid_ore: Decimal
    saved_ore: Decimal
    tonnes_diverted: Decimal
    virgin_material_tonnes: Decimal
    water_m3: Decimal
    energy_mwh: Decimal
    co2e_avoided_kg: Decimal
    transport_kg_co2e: Decimal
    co2e_net_kg: Decimal
    not_estimated: int
    factors: list[list[dict[str, Any]]]
    basis: list[str]


@dataclass(frozen=True)
class Goal:
    id: str
    title_nb: str
    title_en: str
    figures: tuple[str, ...]


# The UN Sustainable Development Goal targets and the EU taxonomy objective the park reports
# on, with the figures that speak to each (the mapping is the park's, documented in
# docs/impact.md).
GOALS = (
    Goal(
        "SDG 12.5",
        "Innen 2030 redusere avfallsmengden betydelig gjennom forebygging, reduksjon, "
        "materialgjenvinning og ombruk",
        "By 2030, substantially reduce waste generation through prevention, reduction, "
        "recycling and reuse",
        ("tonnes_diverted",),
    ),
    Goal(
        "SDG 12.2",
        "Innen 2030 oppnå bærekraftig forvaltning og effektiv bruk av naturressurser",
        "By 2030, achieve the sustainable management and efficient use of natural resources",
        ("virgin_material_tonnes", "water_m3"),
    ),
    Goal(
        "SDG 9.4",
        "Modernisere infrastruktur og omstille næringslivet til å bli bærekraftig, med mer "
        "effektiv ressursbruk og renere teknologi",
        "Upgrade infrastructure and retrofit industries to make them sustainable, with "
        "increased resource-use efficiency and cleaner technologies",
        ("co2e_net_kg", "tonnes_diverted"),
    ),
    Goal(
        "SDG 7.a",
        "Fremme investering i energiinfrastruktur og ren energiteknologi",
        "Promote investment in energy infrastructure and clean energy technology",
        ("energy_mwh",),
    ),
    Goal(
        "EU taxonomy: circular economy",
        "EUs taksonomi, miljømål 4: omstilling til en sirkulær økonomi (forordning (EU) "
        "2020/852 art. 9 d og 13)",
        "EU taxonomy, environmental objective 4: transition to a circular economy "
        "(Regulation (EU) 2020/852, Art. 9(d) and 13)",
        ("tonnes_diverted", "virgin_material_tonnes", "water_m3"),
    ),
)

UNITS = {
    "supplied_tonnes": "t",
    "received_tonnes": "t",
    "earned_nok": "NOK",
    "paid_nok": "NOK",
    "saved_nok": "NOK",
    "tonnes_diverted": "t",
    "virgin_material_tonnes": "t",
    "water_m3": "m3",
    "energy_mwh": "MWh",
    "co2e_avoided_kg": "kg CO2e",
    "transport_kg_co2e": "kg CO2e",
    "co2e_net_kg": "kg CO2e",
}


def figures(totals: Totals | dict[str, Any]) -> list[dict[str, Any]]:
    """The report's figures, in order, from the ledger's totals (øre become NOK). CO2e net of
    transport counts only the exchanges whose CO2e avoided is estimated."""

    sums = asdict(totals) if isinstance(totals, Totals) else totals

    def value(key: str) -> Decimal:
        raw = Decimal(sums[key.replace("_nok", "_ore")] if key.endswith("_nok") else sums[key])
        return raw / 100 if key.endswith("_nok") else raw

    return [
        {"key": key, "value": value(key).quantize(Decimal("0.001")).normalize(), "unit": unit}
        for key, unit in UNITS.items()
    ]


def goals() -> list[dict[str, Any]]:
    return [
        {"id": g.id, "title_nb": g.title_nb, "title_en": g.title_en, "figures": list(g.figures)}
        for g in GOALS
    ]


def factors(entries: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each factor the figures used, once, with its source and year."""
    seen: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for factor in entry:
            seen.setdefault(factor["key"], factor)
    return [seen[k] for k in sorted(seen)]
