"""Units of quantity the exchange knows, their conversions, and how amounts are written."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import PlainSerializer

Unit = Literal["t", "kg", "m3", "MWh", "kWh", "pieces"]

# Factor to a base unit, by dimension; units of different dimensions never convert.
_TO_BASE: dict[str, tuple[str, Decimal]] = {
    "t": ("mass", Decimal(1000)),
    "kg": ("mass", Decimal(1)),
    "MWh": ("energy", Decimal(1000)),
    "kWh": ("energy", Decimal(1)),
    "m3": ("volume", Decimal(1)),
    "pieces": ("count", Decimal(1)),
}


def convert(quantity: Decimal, unit: str, to_unit: str) -> Decimal | None:
    """``quantity`` in ``to_unit``, or None when the units measure different things."""
    source, target = _TO_BASE[unit], _TO_BASE[to_unit]
    if source[0] != target[0]:
        return None
    return quantity * source[1] / target[1]


def format_quantity(quantity: Decimal, unit: str | None = None) -> str:
    """``Decimal('600.000')`` as ``600``, ``Decimal('2.50')`` as ``2.5``; never in E notation."""
    text = format(quantity.normalize(), "f")
    return f"{text} {unit}" if unit else text


# A quantity in API answers: a JSON string without trailing zeros ("120", not "120.000").
Quantity = Annotated[Decimal, PlainSerializer(format_quantity, return_type=str, when_used="json")]


def dimension(unit: str) -> str:
    return _TO_BASE[unit][0]


def to_base(quantity: Decimal, unit: str) -> Decimal:
    """In the base unit of its dimension: kg, kWh, m3 or pieces."""
    return quantity * _TO_BASE[unit][1]


def is_unit(text: str) -> bool:
    """Whether ``text`` names a unit the exchange knows."""
    return text in _TO_BASE
