"""What a listing still has for a new agreement, and how much of a set of terms fits in it.

The contracts service agrees every contract, so it knows every hold on a listing: the
listing's quantity (from ``listings.events.v1``) less what its active and completed
contracts take, and what cancelled ones kept, period by period for a stream
(``shared.periods``). Terms that ask for more than that are never agreed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal

from shared import periods
from shared.units import convert


@dataclass(frozen=True)
class Listing:
    """The contracts service's record of a listing (from the listings service's events)."""

    id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    title: str
    quantity: Decimal
    unit: str
    frequency: str
    status: str
    ewc_code: str | None
    hazardous: bool
    updated_at: datetime
    available_from: date | None = None

    def first_day(self, day: date) -> date:
        """The day a contract without delivery dates takes its quantity from: ``day``, or
        the listing's first day of availability when that is later."""
        return max(day, self.available_from) if self.available_from else day


@dataclass(frozen=True)
class Hold:
    """What one contract takes of a listing: its quantity while it runs, what it kept once
    cancelled."""

    contract_id: uuid.UUID
    quantity: Decimal
    unit: str
    schedule: str
    delivery_from: date | None
    delivery_until: date | None
    agreed_on: date


@dataclass(frozen=True)
class Ask:
    """Terms as the capacity rule sees them."""

    quantity: Decimal
    unit: str
    schedule: str
    delivery_from: date | None
    delivery_until: date | None


def taken(listing: Listing, holds: list[Hold]) -> dict[date, Decimal]:
    """What the holds take of the listing, per period, in the listing's unit."""
    out: list[dict[date, Decimal]] = []
    for hold in holds:
        amount = convert(hold.quantity, hold.unit, listing.unit)
        if amount is None:
            continue
        out.append(
            periods.shares(
                listing.frequency,
                amount,
                hold.schedule,
                hold.delivery_from,
                hold.delivery_until,
                listing.first_day(hold.agreed_on),
            )
        )
    return periods.reserved(out)


def fitting(listing: Listing, holds: list[Hold], ask: Ask, today: date) -> Decimal:
    """The most of ``ask`` (in its unit) the listing can still give; zero when it is not open
    for agreements or its unit measures something else."""
    if listing.status not in ("open", "reserved"):
        return Decimal(0)
    asked = convert(ask.quantity, ask.unit, listing.unit)
    if asked is None:
        return Decimal(0)
    best = periods.largest_fitting(
        listing.quantity,
        taken(listing, holds),
        listing.frequency,
        asked,
        ask.schedule,
        ask.delivery_from,
        ask.delivery_until,
        listing.first_day(today),
    )
    back = convert(best, listing.unit, ask.unit)
    assert back is not None
    return min(ask.quantity, back.quantize(periods.STEP, rounding=ROUND_DOWN))


# Terms cut below this share of what they asked are withdrawn rather than cut: a trade of a
# hundredth of what both sides wanted is not the trade they were negotiating.
USEFUL_SHARE = Decimal("0.01")


def useful(cut: Decimal, asked: Decimal) -> bool:
    return cut > 0 and cut >= asked * USEFUL_SHARE
