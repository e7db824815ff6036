"""The plan of Viken Park: the box of the map in degrees and the SVG drawn over it.

A click on the plan gives a point in the drawing; these functions (and their twin in
static/portal.js) turn it into latitude and longitude and back. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Zone:
    """A row of plots, north to south, named by its letter."""

    letter: str
    north: float
    south: float


SOUTH, WEST, NORTH, EAST = 59.2425, 11.0230, 59.2545, 11.0430
# Width and height in SVG units, in proportion to the ground (1° of longitude is about
# half a degree of latitude here).
WIDTH, HEIGHT = 600, 704
ZONES = (
    Zone("A", 59.2545, 59.2505),
    Zone("B", 59.2505, 59.2480),
    Zone("C", 59.2480, 59.2460),
    Zone("D", 59.2460, 59.2445),
    Zone("E", 59.2445, 59.2425),
)


def to_point(latitude: float, longitude: float) -> tuple[float, float]:
    """Where a position is drawn on the plan (may lie outside it)."""
    x = (longitude - WEST) / (EAST - WEST) * WIDTH
    y = (NORTH - latitude) / (NORTH - SOUTH) * HEIGHT
    return round(x, 1), round(y, 1)


def to_position(x: float, y: float) -> tuple[float, float]:
    """The latitude and longitude of a point of the plan, to about a metre."""
    longitude = WEST + x / WIDTH * (EAST - WEST)
    latitude = NORTH - y / HEIGHT * (NORTH - SOUTH)
    return round(latitude, 5), round(longitude, 5)


def on_plan(latitude: float, longitude: float) -> bool:
    return SOUTH <= latitude <= NORTH and WEST <= longitude <= EAST


def zone_of(latitude: float) -> str | None:
    """The row of plots a latitude falls in."""
    for zone in ZONES:
        if zone.south <= latitude <= zone.north:
            return zone.letter
    return None


def zone_bands() -> list[tuple[str, float, float]]:
    """Each row's letter, top and height in SVG units, for drawing."""
    bands = []
    for zone in ZONES:
        top = to_point(zone.north, WEST)[1]
        bottom = to_point(zone.south, WEST)[1]
        bands.append((zone.letter, top, round(bottom - top, 1)))
    return bands
