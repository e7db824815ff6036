"""What a listing can be about besides a List of Waste code: energy, water, gases and the
by-products industrial parks exchange, each with the properties that decide a match, the
units it is measured in, how it moves, and (for energy carriers) how a mass or a volume of
it turns into energy through its stated properties."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from shared.units import Unit, convert, dimension

TransportMode = Literal["road", "pipe", "ship", "rail"]
TRANSPORT_MODES: tuple[TransportMode, ...] = ("road", "pipe", "ship", "rail")

# Farther than this, transport eats the benefit of most by-products: the exchange's default
# when a listing gives no maximum distance of its own. Heat, steam and water in pipes go
# much less far (a product default, documented in shared/data/README.md).
DEFAULT_MAX_DISTANCE_KM: dict[TransportMode, float] = {
    "road": 100.0,
    "rail": 300.0,
    "ship": 1000.0,
    "pipe": 20.0,
}


@dataclass(frozen=True)
class Property:
    """A property a listing of the class states (offers) or limits (needs)."""

    name: str
    unit: str
    label: str
    label_nb: str
    required: bool = False
    # Heat, pressure and temperature never mix into an average: a need's limit holds only
    # for each supply on its own (the optimiser does not blend them).
    blendable: bool = True


@dataclass(frozen=True)
class ResourceClass:
    name: str
    label: str
    units: tuple[Unit, ...]
    properties: tuple[Property, ...] = ()
    label_nb: str = ""  # the label in Norwegian bokmål (the team's translation)
    transport: TransportMode = "road"
    retired: bool = False  # kept for listings made before; new listings may not use it

    @property
    def required_quality(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties if p.required)

    def property(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)


def _p(
    name: str, unit: str, label: str, label_nb: str, required: bool = False, blend: bool = True
) -> Property:
    return Property(name, unit, label, label_nb, required, blend)


TEMPERATURE = _p("temperature_c", "°C", "temperature", "temperatur", blend=False)
SUPPLY_TEMPERATURE = _p(
    "temperature_c", "°C", "supply temperature", "turtemperatur", required=True, blend=False
)
RETURN_TEMPERATURE = _p(
    "return_temperature_c", "°C", "return temperature", "returtemperatur", blend=False
)
CAPACITY = _p("capacity_mw", "MW", "capacity", "effekt", blend=False)
HOURS = _p("hours_per_year", "h", "hours available a year", "timer tilgjengelig i året")
MONTHS = _p("months_available", "months", "months available a year", "måneder tilgjengelig i året")
PRESSURE = _p("pressure_bar", "bar", "pressure", "trykk", required=True, blend=False)
MOISTURE = _p("moisture", "%", "moisture", "fuktighet")
LHV_MASS = _p("lhv_mj_per_kg", "MJ/kg", "net calorific value", "nedre brennverdi")
LHV_VOLUME = _p("lhv_mj_per_m3", "MJ/m3", "net calorific value", "nedre brennverdi")
PURITY = _p("purity", "%", "purity", "renhet")
SALINITY = _p("salinity", "g/l", "salinity", "saltholdighet")
COD = _p("cod", "mg/l", "chemical oxygen demand (COD)", "kjemisk oksygenforbruk (KOF)")
NITROGEN = _p("nitrogen", "%", "nitrogen (of fresh mass)", "nitrogen (av våtvekt)")
PHOSPHORUS = _p("phosphorus", "%", "phosphorus (of fresh mass)", "fosfor (av våtvekt)")
DRY_MATTER = _p("dry_matter", "%", "dry matter", "tørrstoff")
CONCENTRATION = _p("concentration", "%", "concentration", "konsentrasjon")
WATER_QUALITY = (TEMPERATURE, SALINITY, COD)
MATERIAL: tuple[Unit, ...] = ("t", "kg", "m3")
ASH = _p("ash", "%", "ash content", "askeinnhold")
LOSS_ON_IGNITION = _p("loss_on_ignition", "%", "loss on ignition", "glødetap")
PROTEIN = _p("protein", "%", "protein", "protein")
# What any List of Waste material may state besides its classes' own properties: water,
# energy, what burns off, nutrients and the heavy metals that limit its use (of dry matter).
MATERIAL_PROPERTIES: tuple[Property, ...] = (
    MOISTURE,
    DRY_MATTER,
    LHV_MASS,
    ASH,
    LOSS_ON_IGNITION,
    PURITY,
    NITROGEN,
    PHOSPHORUS,
    _p("cadmium", "mg/kg", "cadmium (of dry matter)", "kadmium (av tørrstoff)"),
    _p("lead", "mg/kg", "lead (of dry matter)", "bly (av tørrstoff)"),
    _p("mercury", "mg/kg", "mercury (of dry matter)", "kvikksølv (av tørrstoff)"),
)

RESOURCE_CLASSES: dict[str, ResourceClass] = {
    c.name: c
    for c in (
        ResourceClass(
            "heat",
            "Heat (hot water or air)",
            ("MWh", "kWh"),
            (SUPPLY_TEMPERATURE, RETURN_TEMPERATURE, CAPACITY, HOURS, MONTHS),
            label_nb="Varme (varmt vann eller luft)",
            transport="pipe",
        ),
        ResourceClass(
            "steam",
            "Steam",
            ("MWh", "kWh", "t"),
            (
                PRESSURE,
                _p("temperature_c", "°C", "temperature", "temperatur", required=True, blend=False),
                RETURN_TEMPERATURE,
                CAPACITY,
                HOURS,
            ),
            label_nb="Damp",
            transport="pipe",
        ),
        ResourceClass(
            "cold",
            "Cooling",
            ("MWh", "kWh"),
            (SUPPLY_TEMPERATURE, RETURN_TEMPERATURE, CAPACITY, HOURS),
            label_nb="Kjøling",
            transport="pipe",
        ),
        ResourceClass(
            "process_water",
            "Process water (fresh water)",
            ("m3",),
            WATER_QUALITY,
            label_nb="Prosessvann (ferskvann)",
            transport="pipe",
        ),
        ResourceClass(
            "treated_wastewater",
            "Treated wastewater",
            ("m3",),
            WATER_QUALITY,
            label_nb="Renset avløpsvann",
            transport="pipe",
        ),
        ResourceClass(
            "seawater",
            "Seawater (cooling water, fish farming)",
            ("m3",),
            WATER_QUALITY,
            label_nb="Sjøvann (kjølevann, fiskeoppdrett)",
            transport="pipe",
        ),
        ResourceClass(
            "co2",
            "Carbon dioxide (CO2)",
            ("t", "kg"),
            (_p("purity", "%", "purity", "renhet", required=True),),
            label_nb="Karbondioksid (CO2)",
        ),
        ResourceClass(
            "fuel_gas",
            "Fuel gas (refinery gas, biogas, off-gas)",
            ("MWh", "kWh", "m3"),
            (
                LHV_VOLUME,
                _p("methane", "%", "methane", "metan"),
                _p("sulphur", "mg/m3", "sulphur", "svovel"),
            ),
            label_nb="Brenngass (raffinerigass, biogass, avgass)",
            transport="pipe",
        ),
        ResourceClass(
            "hydrogen",
            "Hydrogen",
            ("t", "kg"),
            (PURITY, _p("pressure_bar", "bar", "pressure", "trykk", blend=False)),
            label_nb="Hydrogen",
            transport="pipe",
        ),
        ResourceClass(
            "solid_biofuel",
            "Solid biofuel (wood chips, pellets, bagasse)",
            ("t", "m3", "MWh"),
            (MOISTURE, LHV_MASS, ASH),
            label_nb="Fast biobrensel (flis, pellets, bagasse)",
        ),
        ResourceClass(
            "liquid_biofuel",
            "Liquid biofuel and bio-oils",
            ("t", "m3", "MWh"),
            (LHV_MASS, _p("water", "%", "water content", "vanninnhold")),
            label_nb="Flytende biobrensel og bioolje",
        ),
        ResourceClass(
            "animal_feed",
            "Animal feed (not waste)",
            MATERIAL,
            (DRY_MATTER, PROTEIN),
            label_nb="Dyrefôr (ikke avfall)",
        ),
        ResourceClass(
            "fertiliser",
            "Fertiliser and soil improver",
            MATERIAL,
            (DRY_MATTER, NITROGEN, PHOSPHORUS),
            label_nb="Gjødsel og jordforbedring",
        ),
        ResourceClass(
            "food_residue",
            "Food and drink by-products (molasses, whey, spent grain, peel)",
            MATERIAL,
            (DRY_MATTER, PROTEIN),
            label_nb="Biprodukter fra mat og drikke (melasse, myse, mask, skall)",
        ),
        ResourceClass(
            "fermentation_residue",
            "Fermentation residues (spent biomass, yeast, vinasse)",
            MATERIAL,
            (DRY_MATTER, NITROGEN, PHOSPHORUS),
            label_nb="Rester fra fermentering (brukt biomasse, gjær, vinasse)",
        ),
        ResourceClass(
            "fibre",
            "Fibre (pulp, bagasse)",
            MATERIAL,
            (MOISTURE,),
            label_nb="Fiber (masse, bagasse)",
        ),
        ResourceClass(
            "gypsum",
            "Gypsum (flue-gas, phospho- or recycled gypsum)",
            MATERIAL,
            (MOISTURE, PURITY),
            label_nb="Gips (røykgass-, fosfo- eller gjenvunnet gips)",
        ),
        ResourceClass(
            "ash",
            "Ash (fly ash, bottom ash)",
            MATERIAL,
            (LOSS_ON_IGNITION,),
            label_nb="Aske (flyveaske, bunnaske)",
        ),
        ResourceClass(
            "slag",
            "Slag (blast-furnace, steel, ferro-alloy)",
            MATERIAL,
            (),
            label_nb="Slagg (masovn-, stål-, ferrolegeringsslagg)",
        ),
        ResourceClass(
            "aggregate",
            "Aggregate (crushed stone, sand, recycled aggregate)",
            MATERIAL,
            (),
            label_nb="Tilslag (pukk, sand, gjenvunnet tilslag)",
        ),
        ResourceClass(
            "solvent",
            "Solvents",
            MATERIAL,
            (PURITY,),
            label_nb="Løsemidler",
        ),
        ResourceClass(
            "acid",
            "Acids (spent or surplus)",
            MATERIAL,
            (CONCENTRATION,),
            label_nb="Syrer (brukte eller overskudd)",
        ),
        ResourceClass(
            "alkali",
            "Alkalis and lime (spent or surplus)",
            MATERIAL,
            (CONCENTRATION,),
            label_nb="Baser og kalk (brukte eller overskudd)",
        ),
        ResourceClass(
            "sulphur",
            "Sulphur",
            MATERIAL,
            (PURITY,),
            label_nb="Svovel",
        ),
        ResourceClass(
            "by_product",
            "Non-waste by-product (retired)",
            ("t", "kg", "m3", "pieces"),
            label_nb="Biprodukt som ikke er avfall (utgått)",
            retired=True,
        ),
        ResourceClass(
            "capacity",
            "Spare capacity (storage, equipment, logistics)",
            ("pieces",),
            label_nb="Ledig kapasitet (lager, utstyr, logistikk)",
        ),
    )
}

# Materials with a List of Waste code are counted, weighed or measured by volume.
MATERIAL_UNITS: tuple[Unit, ...] = ("t", "kg", "m3", "pieces")

# Quality properties whose limits are never met by a blend of supplies, whatever the class.
UNBLENDABLE = frozenset(
    p.name for c in RESOURCE_CLASSES.values() for p in c.properties if not p.blendable
)


def known_properties() -> dict[str, Property]:
    """Every property the exchange knows, by name (the first definition of a name: a
    name has one unit wherever it is used)."""
    found: dict[str, Property] = {}
    for p in (*MATERIAL_PROPERTIES, *(p for c in RESOURCE_CLASSES.values() for p in c.properties)):
        found.setdefault(p.name, p)
    return found


def open_classes() -> list[str]:
    """The classes a new listing may name."""
    return [name for name, c in RESOURCE_CLASSES.items() if not c.retired]


def class_of(resource: str) -> ResourceClass | None:
    """The class of ``class:<name>`` (or ``<name>``); None for a List of Waste code."""
    return RESOURCE_CLASSES.get(resource.removeprefix("class:"))


def default_transport(resource: str) -> TransportMode:
    found = class_of(resource)
    return found.transport if found else "road"


def stated(quality: Iterable[Mapping[str, Any]], name: str, unit: str) -> float | None:
    """The value an offer states for a property (its value, else the middle of its range)."""
    for q in quality:
        if q.get("property") == name and q.get("unit") == unit:
            if q.get("value") is not None:
                return float(q["value"])
            if q.get("min") is not None and q.get("max") is not None:
                return (float(q["min"]) + float(q["max"])) / 2
    return None


@cache
def _steam_mwh_per_tonne(
    pressure_bar: float, temperature_c: float, return_c: float | None
) -> float:
    """Heat given up by one tonne of steam at ``pressure_bar`` (absolute) and
    ``temperature_c`` as it condenses to water at ``return_c`` (saturated liquid at its own
    pressure when no return temperature is stated): IAPWS-IF97 enthalpies, in MWh."""
    from iapws import IAPWS97

    mpa = pressure_bar / 10
    steam = IAPWS97(P=mpa, T=temperature_c + 273.15)
    water = IAPWS97(P=mpa, x=0) if return_c is None else IAPWS97(P=mpa, T=return_c + 273.15)
    kj_per_kg = float(steam.h) - float(water.h)
    return kj_per_kg / 3600  # kJ/kg = MJ/t; 3,600 MJ in a MWh


def energy_per_unit(
    resource: str, quality: Iterable[Mapping[str, Any]], unit: str
) -> tuple[Decimal, str] | None:
    """MWh in one ``unit`` of an energy carrier, from its stated properties, and how it was
    found; None when the class does not convert or a property it needs is not stated."""
    quality = tuple(quality)
    name = resource.removeprefix("class:")
    if dimension(unit) == "energy":
        per = convert(Decimal(1), unit, "MWh")
        return (per, "") if per is not None else None
    if name == "steam" and dimension(unit) == "mass":
        pressure = stated(quality, "pressure_bar", "bar")
        temperature = stated(quality, "temperature_c", "°C")
        back = stated(quality, "return_temperature_c", "°C")
        if pressure is None or temperature is None or pressure <= 0:
            return None
        try:
            per_t = _steam_mwh_per_tonne(pressure, temperature, back)
        except (ValueError, NotImplementedError, ZeroDivisionError):
            return None
        if per_t <= 0:
            return None
        tonnes = convert(Decimal(1), unit, "t")
        assert tonnes is not None
        return Decimal(str(round(per_t, 6))) * tonnes, "steam tables (IAPWS-IF97)"
    if name in ("solid_biofuel", "liquid_biofuel") and dimension(unit) == "mass":
        lhv = stated(quality, "lhv_mj_per_kg", "MJ/kg")
        if lhv is None or lhv <= 0:
            return None
        kg = convert(Decimal(1), unit, "kg")
        assert kg is not None
        return Decimal(str(lhv)) * kg / 3600, "net calorific value"
    if name == "fuel_gas" and unit == "m3":
        lhv = stated(quality, "lhv_mj_per_m3", "MJ/m3")
        if lhv is None or lhv <= 0:
            return None
        return Decimal(str(lhv)) / 3600, "net calorific value"
    return None


def convert_listing(
    resource: str,
    quality: Iterable[Mapping[str, Any]],
    quantity: Decimal,
    unit: str,
    to_unit: str,
) -> Decimal | None:
    """``quantity`` of the resource in ``to_unit``: by the units alone where they measure the
    same thing, else through the energy the carrier holds (tonnes of steam into MWh by its
    pressure and temperature, biofuel by its calorific value); None when neither works."""
    direct = convert(quantity, unit, to_unit)
    if direct is not None:
        return direct
    quality = tuple(quality)
    source = energy_per_unit(resource, quality, unit)
    target = energy_per_unit(resource, quality, to_unit)
    if source is None or target is None or target[0] == 0:
        return None
    return quantity * source[0] / target[0]
