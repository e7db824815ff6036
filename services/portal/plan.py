"""The plan of Viken Park: the box of the map in degrees and the SVG drawn over it.

A click on the plan gives a point in the drawing; these functions (and their twin in
static/portal.js) turn it into latitude and longitude and back. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


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


# Companies farther than this from the park's middle are left off its map.
NEAR_KM = 20.0


def near_park(latitude: float, longitude: float, km: float = NEAR_KM) -> bool:
    """Whether a position lies within ``km`` of the park's middle (great-circle)."""
    middle = ((SOUTH + NORTH) / 2, (WEST + EAST) / 2)
    return distance_km(middle, (latitude, longitude)) <= km


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) positions."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


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


# The online base map: OpenStreetMap's standard tiles (https://operations.osmfoundation.org/
# policies/tiles/: attribution shown, no bulk downloading; the browser asks only for what it
# shows). Offline, or when a tile fails, static/map.js draws the plan instead.
TILE_ORIGIN = "https://tile.openstreetmap.org"
TILES = TILE_ORIGIN + "/{z}/{x}/{y}.png"
COPYRIGHT = "https://www.openstreetmap.org/copyright"


def marker(
    latitude: float | None,
    longitude: float | None,
    label: str = "",
    *,
    kind: str = "place",
    href: str | None = None,
) -> dict[str, Any] | None:
    """A point for the map, or None when the position is not known."""
    if latitude is None or longitude is None:
        return None
    return {"lat": latitude, "lon": longitude, "label": label, "kind": kind, "href": href}


def map_data(
    attribution: str,
    *,
    markers: Iterable[dict[str, Any] | None] = (),
    lines: Iterable[dict[str, Any]] = (),
    pick: bool = False,
    labels: bool = False,
) -> dict[str, Any]:
    """What static/map.js draws: the park's box, the tiles, the points and lines;
    ``pick``: a click fills #latitude and #longitude; ``labels``: names always shown."""
    points = [m for m in markers if m is not None]
    south = min([SOUTH, *(m["lat"] for m in points)])
    north = max([NORTH, *(m["lat"] for m in points)])
    west = min([WEST, *(m["lon"] for m in points)])
    east = max([EAST, *(m["lon"] for m in points)])
    return {
        "plan": [[SOUTH, WEST], [NORTH, EAST]],
        "bounds": [[south, west], [north, east]],
        "tiles": {"url": TILES, "attribution": attribution},
        "markers": points,
        "lines": list(lines),
        "pick": pick,
        "labels": labels,
    }
