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


RESOURCE_CLASSES: dict[str, ResourceClass] = {
    c.name: c
    for c in (
        ResourceClass("heat", "Heat (hot water or air)", ("MWh", "kWh"), ("temperature_c",)),
        ResourceClass("steam", "Steam", ("MWh", "kWh", "t"), ("temperature_c",)),
        ResourceClass("cold", "Cooling", ("MWh", "kWh"), ("temperature_c",)),
        ResourceClass("process_water", "Process or cooling water", ("m3",)),
        ResourceClass("treated_wastewater", "Treated wastewater", ("m3",)),
        ResourceClass("co2", "Carbon dioxide", ("t", "kg")),
        ResourceClass("by_product", "Non-waste by-product", ("t", "kg", "m3", "pieces")),
        ResourceClass("capacity", "Spare capacity (storage, equipment, logistics)", ("pieces",)),
    )
}

# Materials with a List of Waste code are counted, weighed or measured by volume.
MATERIAL_UNITS: tuple[Unit, ...] = ("t", "kg", "m3", "pieces")
