"""How much of a listing a contract takes, period by period.

A one-off listing (``once``) has one period: its whole quantity. A stream (``weekly``,
``monthly``, ``yearly``) offers or needs its quantity in every calendar period (ISO week,
month, year) of its window, and a contract takes from the periods it delivers in:

- a stream contract delivered per the listing's own period (a monthly contract on a monthly
  listing) takes an equal part of its total from each period of its delivery window; one
  on another rhythm spreads its total over the window by days, so each listing period takes
  the share whose days fall in it;
- a one-off contract takes its whole quantity from the period of its first delivery day (or
  of the day it was agreed, when it names none).

Listings and contracts both reserve with this rule, so what one agrees the other can hold.
No I/O here.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Literal

Frequency = Literal["once", "weekly", "monthly", "yearly"]

ONCE = date(1, 1, 1)  # the one period of a one-off listing
STEP = Decimal("0.001")  # quantities are kept to three decimals (numeric(18, 3))


def period_start(frequency: str, day: date) -> date:
    """The first day of the period of ``frequency`` that contains ``day``."""
    if frequency == "once":
        return ONCE
    if frequency == "weekly":
        return day - timedelta(days=day.weekday())
    if frequency == "monthly":
        return day.replace(day=1)
    if frequency == "yearly":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown frequency {frequency!r}")


def next_period(frequency: str, start: date) -> date:
    """The first day of the period after the one starting on ``start``."""
    if frequency == "weekly":
        return start + timedelta(days=7)
    if frequency == "monthly":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    if frequency == "yearly":
        return date(start.year + 1, 1, 1)
    raise ValueError(f"{frequency!r} has no next period")


def shares(
    listing_frequency: str,
    total: Decimal,
    schedule: str,
    delivery_from: date | None,
    delivery_until: date | None,
    agreed_on: date,
) -> dict[date, Decimal]:
    """What a contract for ``total`` (in the listing's unit) takes from each listing period;
    the shares add up to ``total``."""
    if listing_frequency == "once" or total <= 0:
        return {ONCE: total} if total > 0 else {}
    if schedule == "once" or delivery_from is None or delivery_until is None:
        return {period_start(listing_frequency, delivery_from or agreed_on): total}
    days = (delivery_until - delivery_from).days + 1
    overlaps: dict[date, int] = {}
    start = period_start(listing_frequency, delivery_from)
    while start <= delivery_until:
        end = next_period(listing_frequency, start) - timedelta(days=1)
        overlaps[start] = (min(end, delivery_until) - max(start, delivery_from)).days + 1
        start = end + timedelta(days=1)
    taken: dict[date, Decimal] = {}
    for period, overlap in overlaps.items():
        part = (
            Decimal(1) / len(overlaps) if schedule == listing_frequency else Decimal(overlap) / days
        )
        taken[period] = (total * part).quantize(STEP, ROUND_HALF_UP)
    last = max(taken)
    taken[last] += total - sum(taken.values())  # rounding lands in the last period
    return {p: q for p, q in taken.items() if q > 0}


def reserved(periods: list[dict[date, Decimal]]) -> dict[date, Decimal]:
    """Several contracts' shares added up, period by period."""
    total: dict[date, Decimal] = {}
    for taken in periods:
        for period, quantity in taken.items():
            total[period] = total.get(period, Decimal(0)) + quantity
    return total


def overbooked(
    capacity: Decimal, taken: dict[date, Decimal], wanted: dict[date, Decimal]
) -> dict[date, Decimal]:
    """The periods where ``wanted`` on top of ``taken`` exceeds ``capacity``, with what is
    still free in each (never below zero)."""
    return {
        period: max(Decimal(0), capacity - taken.get(period, Decimal(0)))
        for period, quantity in wanted.items()
        if taken.get(period, Decimal(0)) + quantity > capacity
    }


def largest_fitting(
    capacity: Decimal,
    taken: dict[date, Decimal],
    listing_frequency: str,
    asked: Decimal,
    schedule: str,
    delivery_from: date | None,
    delivery_until: date | None,
    agreed_on: date,
) -> Decimal:
    """The most, up to ``asked``, that a contract with this schedule and window can take
    without any period going over ``capacity``; zero when nothing fits."""
    wanted = shares(listing_frequency, asked, schedule, delivery_from, delivery_until, agreed_on)
    if not overbooked(capacity, taken, wanted):
        return asked
    best = asked
    for period, quantity in wanted.items():
        free = max(Decimal(0), capacity - taken.get(period, Decimal(0)))
        best = min(best, asked * free / quantity)
    best = best.quantize(STEP, ROUND_DOWN)
    while best > 0 and overbooked(
        capacity,
        taken,
        shares(listing_frequency, best, schedule, delivery_from, delivery_until, agreed_on),
    ):
        best -= STEP  # a share rounded up by a thousandth
    return max(best, Decimal(0))


def remaining(
    capacity: Decimal, taken: dict[date, Decimal], frequency: str, today: date
) -> Decimal:
    """What a listing still has for a new contract: for a one-off, what is not reserved; for a
    stream, what every period from the current one on still has."""
    coming = [q for period, q in taken.items() if period >= period_start(frequency, today)]
    if frequency == "once":
        coming = [taken.get(ONCE, Decimal(0))]
    return max(Decimal(0), capacity - max(coming, default=Decimal(0)))
