"""What a listing can be about besides a List of Waste code: energy, water, gases and
non-waste by-products, each measured in its own units."""

from __future__ import annotations

from dataclasses import dataclass

from shared.units import Unit


@dataclass(frozen=True)
class ResourceClass:
    name: str
    label: str
    units: tuple[Unit, ...]
    required_quality: tuple[str, ...] = ()
    label_nb: str = ""  # the label in Norwegian bokmål


RESOURCE_CLASSES: dict[str, ResourceClass] = {
    c.name: c
    for c in (
        ResourceClass(
            "heat",
            "Heat (hot water or air)",
            ("MWh", "kWh"),
            ("temperature_c",),
            label_nb="Varme (varmt vann eller luft)",
        ),
        ResourceClass("steam", "Steam", ("MWh", "kWh", "t"), ("temperature_c",), label_nb="Damp"),
        ResourceClass("cold", "Cooling", ("MWh", "kWh"), ("temperature_c",), label_nb="Kjøling"),
        ResourceClass(
            "process_water",
            "Process or cooling water",
            ("m3",),
            label_nb="Prosess- eller kjølevann",
        ),
        ResourceClass(
            "treated_wastewater", "Treated wastewater", ("m3",), label_nb="Renset avløpsvann"
        ),
        ResourceClass("co2", "Carbon dioxide", ("t", "kg"), label_nb="Karbondioksid"),
        ResourceClass(
            "by_product",
            "Non-waste by-product",
            ("t", "kg", "m3", "pieces"),
            label_nb="Biprodukt som ikke er avfall",
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
