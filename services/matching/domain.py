"""Which offer and need make a trade, and how much of it; no I/O here.

An offer serves a need when: they come from different companies; the offer's resource is
the need's or serves it by the knowledge base; the units convert; their availability
windows overlap; every quality limit of the need holds for the offer's stated value; and
the two sites lie within ``MAX_DISTANCE_KM`` of each other (when both give coordinates).
Each proposal says why, with the numbers, and what it is worth: the price gap and its
surplus, transport, and the CO2e it avoids.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from shared import knowledge
from shared.events import ProposalValue
from shared.ewc import catalogue
from shared.units import convert, dimension, format_quantity

PROPOSAL_NAMESPACE = uuid.UUID("6f1d9a4e-4c61-4f4e-9a53-7d0b2c1f3e11")
# Until a need can state its own limit: farther than this, transport eats the benefit of
# most by-products (a sensible default for a park and its surroundings).
MAX_DISTANCE_KM = 100.0


@dataclass(frozen=True)
class OpenListing:
    listing_id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    ewc_code: str | None
    resource_class: str | None
    title: str
    quantity: Decimal
    unit: str
    available_from: date | None = None
    available_until: date | None = None
    quality: tuple[dict[str, Any], ...] = field(default=())
    latitude: float | None = None
    longitude: float | None = None
    price_per_unit_ore: int | None = None

    @property
    def resource(self) -> str:
        """What is traded: a List of Waste code, or ``class:<name>`` for heat, water, ..."""
        return self.ewc_code or f"class:{self.resource_class}"


@dataclass(frozen=True)
class Proposal:
    proposal_id: uuid.UUID
    offer: OpenListing
    need: OpenListing
    quantity: Decimal
    unit: str
    reasons: tuple[str, ...]
    value: ProposalValue
    origin: str = "matcher"  # or "optimiser"
    plan_id: uuid.UUID | None = None


def rank(proposal: Proposal) -> tuple[float, float, float, str]:
    """Best first: the most money to share (less haulage), then the most CO2e saved, then
    the nearest."""
    return _rank_key(proposal.value, proposal.proposal_id)


def _rank_key(value: ProposalValue, proposal: uuid.UUID) -> tuple[float, float, float, str]:
    co2e = value.co2e_net_kg if value.co2e_net_kg is not None else value.co2e_avoided_kg
    return (
        -float((value.surplus_ore or 0) - (value.transport_cost_ore or 0)),
        -float(co2e or 0),
        value.distance_km or 0.0,
        str(proposal),
    )


def proposal_id(offer_id: uuid.UUID, need_id: uuid.UUID) -> uuid.UUID:
    """The same pair always gives the same id, so a pair is never proposed twice."""
    return uuid.uuid5(PROPOSAL_NAMESPACE, f"{offer_id}/{need_id}")


def locks_for(listing: OpenListing) -> list[str]:
    """The resource locks to hold while matching ``listing``, in a deadlock-free order.

    An offer holds its own resource; a need holds every resource it accepts. So an offer
    and a need that could match always share a lock, and one sees the other committed.
    """
    if listing.kind == "offer":
        return [listing.resource]
    return sorted(knowledge.accepted_by(listing.resource))


def candidate_resources(listing: OpenListing) -> list[str]:
    """Resources of the listings of the other kind that could match this one."""
    if listing.kind == "offer":
        return sorted(knowledge.served_by(listing.resource))
    return sorted(knowledge.accepted_by(listing.resource))


def _resource_reason(offer: OpenListing, need: OpenListing, use: knowledge.Use) -> str:
    if offer.resource == need.resource:
        return (
            f"same List of Waste code {offer.ewc_code}"
            if offer.ewc_code
            else f"same resource class {offer.resource_class}"
        )
    return f"{offer.resource} serves a need for {need.resource} as {use.use} ({use.basis})"


def distance_km(a: OpenListing, b: OpenListing) -> float | None:
    """Great-circle distance between the two sites, when both give coordinates."""
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    assert a.latitude is not None and a.longitude is not None
    assert b.latitude is not None and b.longitude is not None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def windows_overlap(offer: OpenListing, need: OpenListing) -> bool:
    starts = [d for d in (offer.available_from, need.available_from) if d is not None]
    ends = [d for d in (offer.available_until, need.available_until) if d is not None]
    return not starts or not ends or max(starts) <= min(ends)


@dataclass(frozen=True)
class Check:
    """One rule of the match, whether it holds for the pair, and the numbers."""

    rule: str
    holds: bool
    detail: str


def _quality_checks(offer: OpenListing, need: OpenListing) -> list[Check]:
    """One check per quality limit of the need, against the offer's stated value.

    A limit holds when the offer states the property in the same unit with a value (or
    its own guaranteed min and max) inside the need's min and max.
    """
    stated = {q["property"]: q for q in offer.quality}
    found = []
    for limit in need.quality:
        low, high = limit.get("min"), limit.get("max")
        if low is None and high is None:
            continue  # a value without limits describes, it does not constrain
        name, unit = limit["property"], limit["unit"]
        bounds = " and ".join(
            part
            for part in (
                f"at least {low:g}" if low is not None else "",
                f"at most {high:g}" if high is not None else "",
            )
            if part
        )
        have = stated.get(name)
        if have is None or have.get("unit") != unit:
            found.append(
                Check(
                    f"quality:{name}",
                    False,
                    f"the offer states no {name} in {unit}; the need wants {bounds} {unit}",
                )
            )
            continue
        lowest = have.get("value") if have.get("value") is not None else have.get("min")
        highest = have.get("value") if have.get("value") is not None else have.get("max")
        holds = not (
            (low is not None and (lowest is None or lowest < low))
            or (high is not None and (highest is None or highest > high))
        )
        shown = _range(lowest, highest)
        verb = "meets" if holds else "fails"
        found.append(
            Check(
                f"quality:{name}", holds, f"{name} {shown} {unit} {verb} the need's {bounds} {unit}"
            )
        )
    return found


def _range(lowest: float | None, highest: float | None) -> str:
    """What the offer states of a property: a value, a range, or one bound of it."""
    if lowest is not None and highest is not None:
        return f"{lowest:g}" if lowest == highest else f"{lowest:g} to {highest:g}"
    if highest is not None:
        return f"at most {highest:g}"
    if lowest is not None:
        return f"at least {lowest:g}"
    return "unstated"


def _span(listing: OpenListing) -> str:
    return f"from {listing.available_from or 'now'} to {listing.available_until or 'open end'}"


def _permit_check(
    offer: OpenListing, need: OpenListing, permits: Mapping[uuid.UUID, frozenset[str]] | None
) -> Check | None:
    """A hazardous offer goes only to a receiver with the permit for its code.

    The matcher does not see companies' permits: it proposes a hazardous offer only to a
    need for that very code, which the listings service takes only from a company that
    declared the permit. A described park (the optimiser) lists each company's permits.
    """
    entry = catalogue().get(offer.ewc_code or "")
    if entry is None or not entry.hazardous:
        return None
    if permits is not None:
        held = entry.code in permits.get(need.company_id, frozenset())
        return Check(
            "permit",
            held,
            f"{entry.display} is hazardous; the receiver "
            + ("holds the permit to receive it" if held else "holds no permit to receive it"),
        )
    if need.resource == offer.resource:
        return Check(
            "permit",
            True,
            f"{entry.display} is hazardous; the receiver declared the permit to receive it",
        )
    return Check(
        "permit",
        False,
        f"{entry.display} is hazardous and the need is for {need.resource}: the receiver has "
        "not declared a permit for it",
    )


def checks(
    offer: OpenListing,
    need: OpenListing,
    max_distance_km: float = MAX_DISTANCE_KM,
    permits: Mapping[uuid.UUID, frozenset[str]] | None = None,
) -> list[Check]:
    """Every rule of the match for this offer and need, in the order a person reads them."""
    result = [
        Check(
            "companies",
            offer.company_id != need.company_id,
            "different companies"
            if offer.company_id != need.company_id
            else "a company's offer is never proposed to its own need",
        ),
    ]
    use = knowledge.link(offer.resource, need.resource)
    result.append(
        Check(
            "resource",
            use is not None,
            _resource_reason(offer, need, use)
            if use is not None
            else f"{offer.resource} does not serve a need for {need.resource} "
            "(neither the same resource nor a substitute in the knowledge base)",
        )
    )
    permit = _permit_check(offer, need, permits)
    if permit is not None:
        result.append(permit)
    available = convert(offer.quantity, offer.unit, need.unit)
    if available is None:
        result.append(Check("units", False, f"{offer.unit} cannot be converted to {need.unit}"))
    else:
        quantity = min(available, need.quantity)
        result.append(
            Check(
                "quantity",
                True,
                f"the offer of {format_quantity(offer.quantity, offer.unit)} covers "
                f"{format_quantity(quantity, need.unit)} of the "
                f"{format_quantity(need.quantity, need.unit)} needed",
            )
        )
    overlap = windows_overlap(offer, need)
    result.append(
        Check(
            "window",
            overlap,
            "the availability windows overlap"
            if overlap
            else f"the offer is available {_span(offer)}, the need {_span(need)}: no overlap",
        )
    )
    result.extend(_quality_checks(offer, need))
    distance = distance_km(offer, need)
    if distance is not None:
        near = distance <= max_distance_km
        result.append(
            Check(
                "distance",
                near,
                f"the sites are {distance:.1f} km apart"
                + ("" if near else f", more than the {max_distance_km:g} km the exchange proposes"),
            )
        )
    return result


TRANSPORT_FACTORS = knowledge.TRANSPORT_FACTORS


def price_per_need_unit(listing: OpenListing, need_unit: str) -> Decimal | None:
    if listing.price_per_unit_ore is None:
        return None
    per = convert(Decimal(1), need_unit, listing.unit)  # listing units in one need unit
    return None if per is None else Decimal(listing.price_per_unit_ore) * per


def value_of(
    offer: OpenListing,
    need: OpenListing,
    quantity: Decimal,
    haulage_ore_per_tkm: int | None = None,
) -> ProposalValue:
    """The price gap and its surplus (split at the middle price), road transport (its cost
    when the park has set a haulage rate), and the CO2e the trade avoids."""
    ask = price_per_need_unit(offer, need.unit)
    bid = price_per_need_unit(need, need.unit)
    gap = surplus = supplier = receiver = None
    known = [price for price in (ask, bid) if price is not None]
    suggested = int((sum(known, Decimal(0)) / len(known)).to_integral_value()) if known else None
    if ask is not None and bid is not None:
        gap = bid - ask
        surplus = int((gap * quantity).to_integral_value())
        supplier = int((gap / 2 * quantity).to_integral_value())
        receiver = surplus - supplier
    distance = distance_km(offer, need)
    tkm = kg_co2e = None
    factors: tuple[str, ...] = ()
    if distance is not None and dimension(need.unit) == "mass":
        tonnes = convert(quantity, need.unit, "t")
        assert tonnes is not None
        tkm = float(tonnes) * distance
        table = knowledge.emission_factors()
        kg_co2e = tkm * float(sum(table[key].value for key in TRANSPORT_FACTORS))
        factors = TRANSPORT_FACTORS
    cost = None if tkm is None or haulage_ore_per_tkm is None else round(tkm * haulage_ore_per_tkm)
    avoided, co2e_factors, basis = co2e_avoided(offer, quantity, need.unit)
    return ProposalValue(
        price_gap_ore_per_unit=gap,
        offer_price_ore_per_unit=ask,
        need_price_ore_per_unit=bid,
        suggested_price_ore_per_unit=suggested,
        surplus_ore=surplus,
        supplier_surplus_ore=supplier,
        receiver_surplus_ore=receiver,
        distance_km=None if distance is None else round(distance, 2),
        transport_tkm=None if tkm is None else round(tkm, 2),
        transport_kg_co2e=None if kg_co2e is None else round(kg_co2e, 2),
        transport_cost_ore=cost,
        factors=factors,
        co2e_avoided_kg=None if avoided is None else round(avoided, 2),
        co2e_factors=co2e_factors,
        co2e_basis=basis,
        co2e_net_kg=None if avoided is None or kg_co2e is None else round(avoided - kg_co2e, 2),
    )


def co2e_avoided(
    offer: OpenListing, quantity: Decimal, unit: str
) -> tuple[float | None, tuple[str, ...], str]:
    """kg CO2e that exchanging ``quantity`` of the offer avoids, the factors, and the basis."""
    found = knowledge.avoided(offer.resource, quantity, unit)
    return found.kg, found.factors, found.basis


def _value_reason(value: ProposalValue, unit: str) -> str | None:
    if value.price_gap_ore_per_unit is None or value.surplus_ore is None:
        return None
    gap = value.price_gap_ore_per_unit / 100
    haulage = (
        f", less {value.transport_cost_ore / 100:.0f} NOK haulage"
        if value.transport_cost_ore is not None
        else ""
    )
    if gap >= 0:
        return (
            f"prices leave {gap:.2f} NOK/{unit} to share: {value.surplus_ore / 100:.0f} NOK in "
            f"all{haulage}"
        )
    return f"prices are {-gap:.2f} NOK/{unit} apart: a deal needs one side to move"


def _co2e_reason(value: ProposalValue) -> str | None:
    if value.co2e_avoided_kg is None:
        return None
    text = f"avoids about {value.co2e_avoided_kg:,.0f} kg CO2e ({', '.join(value.co2e_factors)})"
    if value.co2e_net_kg is not None:
        text += f", {value.co2e_net_kg:,.0f} kg net of road transport"
    return text


def fits(offer: OpenListing, need: OpenListing, max_distance_km: float = MAX_DISTANCE_KM) -> bool:
    """The verdict of ``checks`` (every rule holds) without writing its reasons: the
    matcher's hot path. A property test holds the two to the same answer."""
    if offer.company_id == need.company_id or knowledge.link(offer.resource, need.resource) is None:
        return False
    entry = catalogue().get(offer.ewc_code or "")
    if entry is not None and entry.hazardous and need.resource != offer.resource:
        return False
    if convert(offer.quantity, offer.unit, need.unit) is None or not windows_overlap(offer, need):
        return False
    if need.quality:
        stated = {q["property"]: q for q in offer.quality}
        for limit in need.quality:
            low, high = limit.get("min"), limit.get("max")
            if low is None and high is None:
                continue
            have = stated.get(limit["property"])
            if have is None or have.get("unit") != limit["unit"]:
                return False
            value = have.get("value")
            lowest = value if value is not None else have.get("min")
            highest = value if value is not None else have.get("max")
            if low is not None and (lowest is None or lowest < low):
                return False
            if high is not None and (highest is None or highest > high):
                return False
    distance = distance_km(offer, need)
    return distance is None or distance <= max_distance_km


def _sides(a: OpenListing, b: OpenListing) -> tuple[OpenListing, OpenListing]:
    return (a, b) if a.kind == "offer" else (b, a)


def _quantity(offer: OpenListing, need: OpenListing) -> Decimal:
    available = convert(offer.quantity, offer.unit, need.unit)
    assert available is not None
    return min(available, need.quantity)


def propose(
    a: OpenListing, b: OpenListing, haulage_ore_per_tkm: int | None = None
) -> Proposal | None:
    """A proposal between two listings, or None when they do not make a trade."""
    if a.kind == b.kind:
        return None
    offer, need = _sides(a, b)
    if not fits(offer, need):
        return None
    quantity = _quantity(offer, need)
    return _proposal(offer, need, quantity, value_of(offer, need, quantity, haulage_ore_per_tkm))


def _proposal(
    offer: OpenListing, need: OpenListing, quantity: Decimal, value: ProposalValue
) -> Proposal:
    found = checks(offer, need)
    reasons = [c.detail for c in found if c.rule not in ("companies", "window")]
    reasons.extend(r for r in (_value_reason(value, need.unit), _co2e_reason(value)) if r)
    return Proposal(
        proposal_id=proposal_id(offer.listing_id, need.listing_id),
        offer=offer,
        need=need,
        quantity=quantity,
        unit=need.unit,
        reasons=tuple(reasons),
        value=value,
    )


def best_proposals(
    listing: OpenListing,
    candidates: list[OpenListing],
    limit: int,
    haulage_ore_per_tkm: int | None = None,
) -> tuple[set[uuid.UUID], list[Proposal]]:
    """Every counterpart that fits (as proposal ids) and the ``limit`` best proposals, best
    first; the reasons are written only for those."""
    valued = []
    for other in candidates:
        if other.kind == listing.kind:
            continue
        offer, need = _sides(listing, other)
        if not fits(offer, need):
            continue
        quantity = _quantity(offer, need)
        valued.append((offer, need, quantity, value_of(offer, need, quantity, haulage_ore_per_tkm)))
    ranked = sorted(
        valued,
        key=lambda item: _rank_key(item[3], proposal_id(item[0].listing_id, item[1].listing_id)),
    )
    return (
        {proposal_id(offer.listing_id, need.listing_id) for offer, need, _, _ in valued},
        [_proposal(*item) for item in ranked[:limit]],
    )


def planned(
    offer: OpenListing, need: OpenListing, quantity: Decimal, plan_id: uuid.UUID, sources: int
) -> Proposal:
    """A proposal from an accepted park-wide plan: the plan's quantity, the pairwise rules
    that hold, and how the blend keeps the need's quality limits."""
    found = checks(offer, need)
    reasons = [
        c.detail for c in found if c.rule not in ("companies", "window", "quantity") and c.holds
    ]
    reasons.insert(
        0,
        f"part of the park-wide plan {plan_id}: {format_quantity(quantity, need.unit)} of the "
        f"{format_quantity(need.quantity, need.unit)} needed"
        + (f", with {sources - 1} other supplies" if sources > 1 else ""),
    )
    if any(c.rule.startswith("quality:") and not c.holds for c in found):
        reasons.append("the blend of the plan's supplies keeps the need's quality limits")
    value = value_of(offer, need, quantity)
    reasons.extend(r for r in (_value_reason(value, need.unit), _co2e_reason(value)) if r)
    return Proposal(
        proposal_id=uuid.uuid5(
            PROPOSAL_NAMESPACE, f"{offer.listing_id}/{need.listing_id}/{plan_id}"
        ),
        offer=offer,
        need=need,
        quantity=quantity,
        unit=need.unit,
        reasons=tuple(reasons),
        value=value,
        origin="optimiser",
        plan_id=plan_id,
    )
