"""Which offer and need make a trade, and how much of it; no I/O here.

An offer serves a need when: they come from different companies; the offer's resource is
the need's, one the need accepts, a code of the need's class (or the class of its code), a
substitute the knowledge base names, or serves the use the need names by the knowledge base
(and no row forbids that use); the quantities convert (tonnes of steam into MWh through its
pressure and temperature, biofuel through its calorific value); their availability windows
overlap; every quality limit of the need holds for the offer's stated value; and the two
sites lie within the nearer of the two listings' maximum distances (the exchange's default
for the way it moves, when a listing gives none). Each reason is a code with parameters
(``shared/reasons.py`` renders it in bokmål and English), and each proposal says what it is
worth: the price gap and its surplus, transport, and the CO2e it avoids.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from shared import knowledge
from shared.events import ListingFacts, ProposalValue, ReasonDetail
from shared.ewc import catalogue
from shared.reasons import render
from shared.resources import (
    DEFAULT_MAX_DISTANCE_KM,
    UNBLENDABLE,
    TransportMode,
    convert_listing,
    default_transport,
    energy_per_unit,
)
from shared.units import convert, dimension, to_base

PROPOSAL_NAMESPACE = uuid.UUID("6f1d9a4e-4c61-4f4e-9a53-7d0b2c1f3e11")
# The most any way of moving goes by default: what the index keeps as the reach of a need
# that says neither how far nor how (each offer's own reach then decides).
WIDEST_REACH_KM = max(DEFAULT_MAX_DISTANCE_KM.values())
# The widest a road listing is looked for without a maximum of its own (kept for callers).
MAX_DISTANCE_KM = DEFAULT_MAX_DISTANCE_KM["road"]


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
    accepts: tuple[str, ...] = ()
    use: str | None = None
    transport_mode: str | None = None
    max_distance_km: float | None = None

    @classmethod
    def of(cls, facts: ListingFacts) -> OpenListing:
        """The open listing an event describes, each field taken by its name; its quantity
        is what remains of it."""
        values = {f.name: getattr(facts, f.name) for f in fields(cls)}
        values["quantity"] = facts.remaining_quantity or facts.quantity
        values["quality"] = tuple(q.model_dump() for q in facts.quality)
        values["accepts"] = tuple(facts.accepts)
        return cls(**values)

    @property
    def named(self) -> str | None:
        """The resource the listing names: a List of Waste code or ``class:<name>``."""
        if self.ewc_code:
            return self.ewc_code
        if self.resource_class:
            return f"class:{self.resource_class}"
        return None

    @property
    def resource(self) -> str:
        """What is traded, or (for a need naming only a use) ``use:<name>``."""
        return self.named or f"use:{self.use}"

    @property
    def mode(self) -> TransportMode:
        """How it moves: as the listing says, else as its class usually does."""
        if self.transport_mode in ("road", "pipe", "ship", "rail"):
            return self.transport_mode  # type: ignore[return-value]
        return default_transport(self.named or "")

    @property
    def reach_km(self) -> float:
        """The farthest the listing's company will trade with anyone: its own maximum, else
        the default for the way it moves. A need that says neither leaves the distance to
        the way each offer moves (``reach_km`` of a pair), so it may be as far as the
        farthest-going way allows."""
        if self.max_distance_km is not None:
            return self.max_distance_km
        if self.kind == "need" and self.transport_mode is None:
            return WIDEST_REACH_KM
        return DEFAULT_MAX_DISTANCE_KM[self.mode]

    @property
    def keys(self) -> frozenset[str]:
        """What the matcher's index finds it by; an offer and a need that could match share
        a key (``knowledge.offer_keys`` and ``knowledge.need_keys``)."""
        if self.kind == "offer":
            return knowledge.offer_keys(self.resource)
        return knowledge.need_keys(self.named, self.use, self.accepts)


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
    details: tuple[ReasonDetail, ...] = ()


def rank_key(
    value: ProposalValue,
    counterpart: uuid.UUID,
    quantity: Decimal | None = None,
    unit: str | None = None,
) -> tuple[float, float, float, uuid.UUID]:
    """Where a proposal ranks among a listing's, best first: the most money to share (less
    haulage), then the most CO2e saved, then the nearest, then by the counterpart's listing
    id (the order the index reads equal counterparts in).

    A pair whose CO2e is not estimated is not counted as saving nothing (which put 5,000 t
    of whey, whose disposal route alone has a factor, above 150,000 t of distillers' grains
    with none for the same feed need): given its ``quantity`` and ``unit``, it counts as
    moving that quantity at ``unestimated_rate`` (the least any sourced row of the
    knowledge base estimates per unit of that dimension), less its transport, so the more
    it moves the better it ranks. The figure is for the ranking only; the proposal still
    says its CO2e is not estimated."""
    co2e = value.co2e_net_kg if value.co2e_net_kg is not None else value.co2e_avoided_kg
    if co2e is None and quantity is not None and unit is not None:
        co2e = ranking_co2e(quantity, unit, value.transport_kg_co2e)
    return (
        -float((value.surplus_ore or 0) - (value.transport_cost_ore or 0)),
        -float(co2e or 0),
        value.distance_km or 0.0,
        counterpart,
    )


# The rate (kg CO2e per base unit) a dimension's pairs rank by when no sourced row of the
# knowledge base estimates any use of that dimension above 0: quantity still orders them,
# and any estimated saving ranks above them.
NOMINAL_RATE = 1e-6


@cache
def unestimated_rate(unit_dimension: str) -> float:
    """kg CO2e per base unit (``BASE_UNITS``) that the ranking counts for a pair whose CO2e
    is not estimated: the smallest positive rate any impact row of the knowledge base gives
    for a quantity of that dimension (for mass today the energy-recovery counterfactual
    alone, about 4.7 kg a tonne), else ``NOMINAL_RATE``. It is a floor, not an estimate of
    the pair: a trade that puts a by-product to use avoids at least what the least useful
    estimated trade avoids."""
    base_unit = BASE_UNITS[unit_dimension]
    rates = [
        found.kg
        for resource, use in knowledge.impacts()
        if (found := knowledge.avoided(resource, Decimal(1), base_unit, use)).kg is not None
        and found.kg > 0
    ]
    return min(rates, default=NOMINAL_RATE)


def ranking_co2e(quantity: Decimal, unit: str, transport_kg_co2e: float | None) -> float:
    """The CO2e a pair that is not estimated ranks by (``rank_key``), rounded as a
    proposal's CO2e is."""
    amount = float(to_base(quantity, unit))
    moved = amount * unestimated_rate(dimension(unit))
    return round(moved - (transport_kg_co2e or 0.0), 2)


def proposal_id(offer_id: uuid.UUID, need_id: uuid.UUID) -> uuid.UUID:
    """The same pair always gives the same id, so a pair is never proposed twice."""
    return uuid.uuid5(PROPOSAL_NAMESPACE, f"{offer_id}/{need_id}")


def locks_for(listing: OpenListing) -> list[str]:
    """The locks to hold while matching ``listing``, in a deadlock-free order: its index
    keys. An offer and a need that could match share a key, so one sees the other
    committed."""
    return sorted(listing.keys)


def candidate_resources(listing: OpenListing) -> list[str]:
    """The index keys of the listings of the other kind that could match this one."""
    return sorted(listing.keys)


def serving(offer: OpenListing, need: OpenListing) -> knowledge.Link | None:
    """How the offer's resource serves the need, or None."""
    return knowledge.link(offer.resource, need.named, need.use, need.accepts)


@dataclass(frozen=True)
class Check:
    """One rule of the match, whether it holds for the pair, and the reason as a code with
    parameters (``detail`` is its English sentence)."""

    rule: str
    holds: bool
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        return render(self.code, self.params, "en")

    @property
    def reason(self) -> ReasonDetail:
        return ReasonDetail(code=self.code, params=dict(self.params))


def _resource_check(offer: OpenListing, need: OpenListing) -> Check:
    link = serving(offer, need)
    if link is None:
        rule = knowledge.rule_for(offer.resource, need.use) if need.use else None
        if rule is not None and not rule.allowed:
            return Check(
                "resource",
                False,
                "resource.forbidden",
                {"offer": offer.resource, "use": rule.use, "source": rule.source},
            )
        return Check(
            "resource", False, "resource.none", {"offer": offer.resource, "need": need.resource}
        )
    if link.kind == "same":
        if offer.ewc_code:
            return Check("resource", True, "resource.same_code", {"code": offer.ewc_code})
        return Check("resource", True, "resource.same_class", {"resource": offer.resource})
    if link.kind == "accepted":
        return Check("resource", True, "resource.accepted", {"offer": offer.resource})
    if link.kind == "member":
        return Check(
            "resource",
            True,
            "resource.member",
            {"code": offer.resource, "resource_class": need.resource, "basis": link.basis},
        )
    params: dict[str, Any] = {
        "offer": offer.resource,
        "use": link.use,
        "permit": link.permit,
        "treatment": link.treatment,
    }
    if link.kind == "substitute":
        return Check(
            "resource",
            True,
            "resource.substitute",
            {**params, "need": need.resource, "basis": link.basis},
        )
    assert link.rule is not None
    return Check(
        "resource",
        True,
        "resource.use",
        {**params, "basis_kind": link.rule.basis, "source": link.rule.source},
    )


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


def reach_km(offer: OpenListing, need: OpenListing, cap: float | None = None) -> float:
    """The farthest the pair may be apart: the nearer of the two listings' maximums (a
    pipe goes as far as the offer's pipe goes). A need that names no maximum and no way of
    moving takes the default of the way the offer moves: fly ash sent by rail goes as far
    as rail goes, not as far as a lorry would (the road default held such a need to 100
    km whatever the offer said)."""
    if need.max_distance_km is None and need.transport_mode is None:
        reach = offer.reach_km
    else:
        reach = min(offer.reach_km, need.reach_km)
    return reach if cap is None else min(reach, cap)


def mode_of(offer: OpenListing, need: OpenListing) -> TransportMode:
    """How the pair's resource moves: as the offer moves it."""
    return offer.mode


def windows_overlap(offer: OpenListing, need: OpenListing) -> bool:
    starts = [d for d in (offer.available_from, need.available_from) if d is not None]
    ends = [d for d in (offer.available_until, need.available_until) if d is not None]
    return not starts or not ends or max(starts) <= min(ends)


def _stated_bounds(have: Mapping[str, Any]) -> tuple[float | None, float | None]:
    value = have.get("value")
    lowest = value if value is not None else have.get("min")
    highest = value if value is not None else have.get("max")
    return lowest, highest


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
        have = stated.get(name)
        params: dict[str, Any] = {"property": name, "unit": unit, "min": low, "max": high}
        if have is None or have.get("unit") != unit:
            found.append(Check(f"quality:{name}", False, "quality.unstated", params))
            continue
        lowest, highest = _stated_bounds(have)
        holds = not (
            (low is not None and (lowest is None or lowest < low))
            or (high is not None and (highest is None or highest > high))
        )
        found.append(
            Check(
                f"quality:{name}",
                holds,
                "quality.within_limit" if holds else "quality.outside_limit",
                {**params, "stated_min": lowest, "stated_max": highest},
            )
        )
    return found


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
            "permit", held, "permit.held" if held else "permit.missing", {"code": entry.code}
        )
    if need.named == offer.resource:
        return Check("permit", True, "permit.declared", {"code": entry.code})
    return Check(
        "permit", False, "permit.not_declared", {"code": entry.code, "need": need.resource}
    )


def quantity_of(offer: OpenListing, need_unit: str) -> Decimal | None:
    """The offer's quantity in the need's unit, through its energy where it must."""
    return convert_listing(offer.resource, offer.quality, offer.quantity, offer.unit, need_unit)


def checks(
    offer: OpenListing,
    need: OpenListing,
    max_distance_km: float | None = None,
    permits: Mapping[uuid.UUID, frozenset[str]] | None = None,
) -> list[Check]:
    """Every rule of the match for this offer and need, in the order a person reads them."""
    different = offer.company_id != need.company_id
    result = [
        Check("companies", different, "companies.different" if different else "companies.same"),
        _resource_check(offer, need),
    ]
    permit = _permit_check(offer, need, permits)
    if permit is not None:
        result.append(permit)
    available = quantity_of(offer, need.unit)
    if available is None:
        result.append(
            Check(
                "units",
                False,
                "units.incompatible",
                {"offer_unit": offer.unit, "need_unit": need.unit},
            )
        )
    else:
        covered = min(available, need.quantity)
        params: dict[str, Any] = {
            "offered": float(offer.quantity),
            "offered_unit": offer.unit,
            "covered": float(covered),
            "needed": float(need.quantity),
            "unit": need.unit,
        }
        if convert(offer.quantity, offer.unit, need.unit) is None:
            how = energy_per_unit(offer.resource, offer.quality, offer.unit)
            params.update(converted=round(float(available), 3), how=how[1] if how else "")
            result.append(Check("quantity", True, "quantity.converted", params))
        else:
            result.append(Check("quantity", True, "quantity.covers", params))
    overlap = windows_overlap(offer, need)
    result.append(
        Check(
            "window",
            overlap,
            "window.overlap" if overlap else "window.apart",
            {
                "offer_from": str(offer.available_from or "now"),
                "offer_until": str(offer.available_until or "open end"),
                "need_from": str(need.available_from or "now"),
                "need_until": str(need.available_until or "open end"),
            },
        )
    )
    result.extend(_quality_checks(offer, need))
    distance = distance_km(offer, need)
    if distance is not None:
        reach = reach_km(offer, need, max_distance_km)
        near = distance <= reach
        result.append(
            Check(
                "distance",
                near,
                "distance.within" if near else "distance.too_far",
                {"km": round(distance, 1), "max_km": reach},
            )
        )
    if mode_of(offer, need) == "pipe":
        result.append(Check("transport", True, "transport.pipe"))
    return result


TRANSPORT_FACTORS = knowledge.TRANSPORT_FACTORS


def price_per_need_unit(listing: OpenListing, need_unit: str) -> Decimal | None:
    """The listing's price per unit of the need (through the energy a carrier holds when
    the units measure different things)."""
    if listing.price_per_unit_ore is None:
        return None
    per = convert_listing(listing.resource, listing.quality, Decimal(1), need_unit, listing.unit)
    return None if per is None else Decimal(listing.price_per_unit_ore) * per


def transport_factors(mode: str) -> tuple[str, ...]:
    return knowledge.MODE_FACTORS.get(mode, TRANSPORT_FACTORS)


def value_of(
    offer: OpenListing,
    need: OpenListing,
    quantity: Decimal,
    haulage_ore_per_tkm: int | None = None,
) -> ProposalValue:
    """The price gap and its surplus (split at the middle price), transport (by road, rail
    or ship its emissions and, when the park has set a haulage rate, its cost; by pipe
    neither, its pumping energy not estimated), and the CO2e the trade avoids."""
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
    mode = mode_of(offer, need)
    tkm = kg_co2e = None
    factors: tuple[str, ...] = ()
    if distance is not None and mode != "pipe" and dimension(need.unit) == "mass":
        tonnes = convert(quantity, need.unit, "t")
        assert tonnes is not None
        tkm = float(tonnes) * distance
        table = knowledge.emission_factors()
        factors = transport_factors(mode)
        kg_co2e = tkm * float(sum(table[key].value for key in factors))
    cost = None
    if tkm is not None and haulage_ore_per_tkm is not None and mode == "road":
        cost = round(tkm * haulage_ore_per_tkm)
    link = serving(offer, need)
    found = knowledge.avoided(
        offer.resource, quantity, need.unit, link.use if link else None, offer.quality
    )
    if mode == "pipe" and distance is not None:
        kg_co2e = 0.0  # no road transport; the pumping energy is not estimated
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
        co2e_avoided_kg=None if found.kg is None else round(found.kg, 2),
        co2e_factors=found.factors,
        co2e_basis=found.basis,
        co2e_net_kg=None if found.kg is None or kg_co2e is None else round(found.kg - kg_co2e, 2),
        transport_mode=mode,
        use=link.use if link else None,
    )


def co2e_avoided(
    offer: OpenListing, quantity: Decimal, unit: str, need: OpenListing | None = None
) -> tuple[float | None, tuple[str, ...], str]:
    """kg CO2e that exchanging ``quantity`` of the offer avoids, the factors, and the basis."""
    link = serving(offer, need) if need is not None else None
    found = knowledge.avoided(
        offer.resource, quantity, unit, link.use if link else None, offer.quality
    )
    return found.kg, found.factors, found.basis


def _value_reasons(value: ProposalValue, unit: str) -> list[Check]:
    found = []
    if value.price_gap_ore_per_unit is not None and value.surplus_ore is not None:
        gap = float(value.price_gap_ore_per_unit) / 100
        if gap >= 0:
            params: dict[str, Any] = {
                "gap": round(gap, 2),
                "unit": unit,
                "total": round(value.surplus_ore / 100),
            }
            if value.transport_cost_ore is not None:
                params["haulage"] = round(value.transport_cost_ore / 100)
            found.append(Check("value", True, "value.surplus", params))
        else:
            found.append(Check("value", True, "value.apart", {"gap": round(-gap, 2), "unit": unit}))
    if value.co2e_avoided_kg is not None:
        if value.co2e_avoided_kg == 0 and not value.co2e_factors:
            replaces = (value.co2e_basis or "").split(":")[0]
            found.append(Check("co2e", True, "co2e.none", {"replaces": replaces}))
        else:
            found.append(
                Check(
                    "co2e",
                    True,
                    "co2e.avoided",
                    {
                        "kg": round(value.co2e_avoided_kg),
                        "factors": list(value.co2e_factors),
                        "net_kg": None if value.co2e_net_kg is None else round(value.co2e_net_kg),
                    },
                )
            )
    return found


def fits(
    offer: OpenListing,
    need: OpenListing,
    max_distance_km: float | None = None,
    permits: Mapping[uuid.UUID, frozenset[str]] | None = None,
    quality: bool = True,
) -> bool:
    """The verdict of ``checks`` (every rule holds; with ``quality`` false, every rule but
    the quality limits) without writing its reasons: the matcher's and the optimiser's hot
    path. A property test holds the two to the same answer."""
    if offer.company_id == need.company_id or serving(offer, need) is None:
        return False
    entry = catalogue().get(offer.ewc_code or "")
    if entry is not None and entry.hazardous:
        if permits is not None:
            if entry.code not in permits.get(need.company_id, frozenset()):
                return False
        elif need.named != offer.resource:
            return False
    if quantity_of(offer, need.unit) is None or not windows_overlap(offer, need):
        return False
    if quality and need.quality:
        stated = {q["property"]: q for q in offer.quality}
        for limit in need.quality:
            low, high = limit.get("min"), limit.get("max")
            if low is None and high is None:
                continue
            have = stated.get(limit["property"])
            if have is None or have.get("unit") != limit["unit"]:
                return False
            lowest, highest = _stated_bounds(have)
            if low is not None and (lowest is None or lowest < low):
                return False
            if high is not None and (highest is None or highest > high):
                return False
    distance = distance_km(offer, need)
    return distance is None or distance <= reach_km(offer, need, max_distance_km)


def _sides(a: OpenListing, b: OpenListing) -> tuple[OpenListing, OpenListing]:
    return (a, b) if a.kind == "offer" else (b, a)


def _quantity(offer: OpenListing, need: OpenListing) -> Decimal:
    available = quantity_of(offer, need.unit)
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


def _said(found: list[Check]) -> tuple[tuple[str, ...], tuple[ReasonDetail, ...]]:
    return tuple(c.detail for c in found), tuple(c.reason for c in found)


def _proposal(
    offer: OpenListing, need: OpenListing, quantity: Decimal, value: ProposalValue
) -> Proposal:
    found = [c for c in checks(offer, need) if c.rule not in ("companies", "window")]
    found.extend(_value_reasons(value, need.unit))
    reasons, details = _said(found)
    return Proposal(
        proposal_id=proposal_id(offer.listing_id, need.listing_id),
        offer=offer,
        need=need,
        quantity=quantity,
        unit=need.unit,
        reasons=reasons,
        value=value,
        details=details,
    )


def _valued(
    listing: OpenListing, other: OpenListing, haulage_ore_per_tkm: int | None
) -> Valued | None:
    """The pair of ``listing`` and ``other`` valued and ranked, or None when it is no trade."""
    if other.kind == listing.kind:
        return None
    offer, need = _sides(listing, other)
    if not fits(offer, need):
        return None
    quantity = _quantity(offer, need)
    value = value_of(offer, need, quantity, haulage_ore_per_tkm)
    return Valued(
        rank_key(value, other.listing_id, quantity, need.unit), offer, need, quantity, value
    )


@dataclass(frozen=True)
class Valued:
    """A pair that fits, with its value and its place in the ranking (``rank``)."""

    key: tuple[float, float, float, uuid.UUID]
    offer: OpenListing
    need: OpenListing
    quantity: Decimal
    value: ProposalValue


class Shortlist:
    """A listing's best ``limit`` proposals among the counterparts added so far.

    The matcher reads counterparts in the order of what a pair with each could at best be
    worth (``Bound``, computed by the index); once the next could not rank among the best
    ``limit`` (``settled``), no later one can, and the rest need not be read.
    """

    def __init__(
        self, listing: OpenListing, limit: int, haulage_ore_per_tkm: int | None = None
    ) -> None:
        self.listing = listing
        self.limit = limit
        self.haulage_ore_per_tkm = haulage_ore_per_tkm
        self.read = 0
        self._best: list[Valued] = []

    def add(self, candidates: Iterable[OpenListing]) -> None:
        for other in candidates:
            self.read += 1
            valued = _valued(self.listing, other, self.haulage_ore_per_tkm)
            if valued is not None:
                self._best.append(valued)
        self._best.sort(key=lambda v: v.key)
        del self._best[self.limit :]

    def settled(self, bound: Bound, counterpart: uuid.UUID) -> bool:
        """Whether the shortlist is final once ``counterpart`` is read, when the index reads
        the rest after it: each of them ranks at or after its bound and (on a tie) its own
        id, so none can when that place is after the last of a full shortlist."""
        if self.limit <= 0:
            return True
        if len(self._best) < self.limit:
            return False
        return (*bound.rank, counterpart) >= self._best[-1].key

    def best(self) -> list[Proposal]:
        """The best proposals, best first, with their reasons."""
        return [_proposal(v.offer, v.need, v.quantity, v.value) for v in self._best]


def best_proposals(
    listing: OpenListing,
    candidates: Iterable[OpenListing],
    limit: int,
    haulage_ore_per_tkm: int | None = None,
) -> list[Proposal]:
    """The ``limit`` best proposals between ``listing`` and the candidates, best first; the
    reasons are written only for those."""
    shortlist = Shortlist(listing, limit, haulage_ore_per_tkm)
    shortlist.add(candidates)
    return shortlist.best()


def fitting(listing: OpenListing, candidates: Iterable[OpenListing]) -> set[uuid.UUID]:
    """The candidates that make a trade with ``listing`` (their listing ids)."""
    return {
        other.listing_id
        for other in candidates
        if other.kind != listing.kind and fits(*_sides(listing, other))
    }


# --- what the index keeps to read the best counterparts first ---------------------------

# The base unit of each dimension (``shared.units``): amounts and prices are kept in it.
BASE_UNITS = {"mass": "kg", "energy": "kWh", "volume": "m3", "count": "pieces"}
# Bump when what ``terms_of`` computes changes: the index is then re-keyed at start.
TERMS_FORMAT = "3"


@dataclass(frozen=True)
class Terms:
    """What the index keeps of a listing beside its keys, so that the database can bound
    what a pair with it is worth before any rule is applied: the dimension of its unit and
    (an offer) those its quantity converts to; its quantity and price in the base unit of
    that dimension (kg, kWh, m3, pieces); how far it may go; for an offer the CO2e one base
    unit avoids by the use it serves (never below 0); and its quality as the rules read it:
    an offer's stated values, a need's limits."""

    dimension: str
    dimensions: tuple[str, ...]
    amount: float
    price_ore: float | None  # per base unit
    reach_km: float
    co2e_any: float | None  # an offer: kg CO2e per base unit in a use without its own row
    co2e_uses: tuple[str, ...] = ()  # an offer: the uses with a row of their own
    co2e_rates: tuple[float, ...] = ()  # and their kg CO2e per base unit
    # an offer: what it states, as (property, unit, lowest, highest); a need: its limits, as
    # (property, unit, min, max) (``fits``)
    quality: tuple[tuple[str, str | None, float | None, float | None], ...] = ()


def terms_of(listing: OpenListing) -> Terms:
    base = to_base(Decimal(1), listing.unit)
    price = listing.price_per_unit_ore
    uses = _uses_with_impact(listing.resource) if listing.kind == "offer" else ()
    return Terms(
        dimension=dimension(listing.unit),
        dimensions=_dimensions(listing),
        amount=float(listing.quantity * base),
        price_ore=None if price is None else float(Decimal(price) / base),
        reach_km=listing.reach_km,
        co2e_any=_co2e_rate(listing, None) if listing.kind == "offer" else None,
        co2e_uses=uses,
        co2e_rates=tuple(_co2e_rate(listing, use) for use in uses),
        quality=_quality_terms(listing),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _quality_terms(
    listing: OpenListing,
) -> tuple[tuple[str, str | None, float | None, float | None], ...]:
    """An offer's stated properties (the last statement of each, as ``fits`` reads them)
    with their lowest and highest values; a need's limits that bound something."""
    if listing.kind == "offer":
        stated = {q["property"]: q for q in listing.quality}
        return tuple(
            (name, have.get("unit"), *map(_number, _stated_bounds(have)))
            for name, have in stated.items()
        )
    return tuple(
        (q["property"], q["unit"], _number(q.get("min")), _number(q.get("max")))
        for q in listing.quality
        if q.get("min") is not None or q.get("max") is not None
    )


def _dimensions(listing: OpenListing) -> tuple[str, ...]:
    """The dimensions of the units a need may have for this offer's quantity to convert
    (``quantity_of``): its own, and through the energy it holds, energy and perhaps mass
    or volume. A need's is its own."""
    own = dimension(listing.unit)
    if (
        listing.kind != "offer"
        or energy_per_unit(listing.resource, listing.quality, listing.unit) is None
    ):
        return (own,)
    return tuple(
        name
        for name, unit in BASE_UNITS.items()
        if name == own or energy_per_unit(listing.resource, listing.quality, unit) is not None
    )


@cache
def _uses_with_impact(resource: str) -> tuple[str, ...]:
    """The uses that have an impact row of their own for the resource."""
    return tuple(sorted(use for found, use in knowledge.impacts() if found == resource and use))


def _co2e_rate(offer: OpenListing, use: str | None) -> float:
    """kg CO2e one base unit of the offer avoids when it serves ``use`` (``value_of``), 0
    when that is below 0, and when it is not estimated the rate the ranking counts such a
    pair at (``unestimated_rate``): the bound of a pair must be at or before its rank."""
    unit_dimension = dimension(offer.unit)
    base_unit = BASE_UNITS[unit_dimension]
    rate = knowledge.avoided(offer.resource, Decimal(1), base_unit, use, offer.quality).kg
    if rate is None:
        return unestimated_rate(unit_dimension)
    return max(0.0, rate)


@dataclass(frozen=True)
class Lookup:
    """What a listing looks up its counterparts with, beside its own ``Terms``: the use a
    pair serves decides its CO2e row, and ``knowledge.link`` decides the use by how the
    offer serves the need (the same resource or an accepted one: the need's use; a member
    of the need's class: none; a substitute: the substitute's use; else the need's use).

    For an offer: its resource, the classes it is a member of, and the needs' resources it
    substitutes for with the CO2e rate of each substitute's use. For a need: the resource
    it names, those it accepts, its use, the members of its class, and the resources that
    substitute for it with the use each serves."""

    terms: Terms
    keys: list[str]
    resource: str | None = None
    accepts: tuple[str, ...] = ()
    need_use: str | None = None
    members: tuple[str, ...] = ()
    substitute_resources: tuple[str, ...] = ()
    substitute_uses: tuple[str, ...] = ()
    substitute_rates: tuple[float, ...] = ()


def lookup_of(listing: OpenListing) -> Lookup:
    terms = terms_of(listing)
    keys = candidate_resources(listing)
    if listing.kind == "offer":
        needs = [
            (need, found.use)
            for need, offers in sorted(knowledge.substitutes().items())
            if (found := offers.get(listing.resource)) is not None
        ]
        return Lookup(
            terms,
            keys,
            resource=listing.resource,
            members=knowledge.classes_of_code().get(listing.resource, ()),
            substitute_resources=tuple(need for need, _ in needs),
            substitute_rates=tuple(_co2e_rate(listing, use) for _, use in needs),
        )
    named = listing.named or ""
    offers = sorted(knowledge.substitutes().get(named, {}).items())
    members = knowledge.members().get(named.removeprefix("class:"), ())
    return Lookup(
        terms,
        keys,
        resource=listing.named,
        accepts=listing.accepts,
        need_use=listing.use,
        members=tuple(m.code for m in members) if named.startswith("class:") else (),
        substitute_resources=tuple(offer for offer, _ in offers),
        substitute_uses=tuple(found.use for _, found in offers),
    )


@cache
def index_version() -> str:
    """The version of the index's keys and terms: they are computed again, at start, for
    listings indexed under another (``handlers.rekey``). Computed once a process, as the
    knowledge it is made of is read once (every listing indexed asks for it: sorting and
    hashing every impact each time was 6 % of matching's CPU under load)."""
    digest = hashlib.sha256(f"{knowledge.version()}/{TERMS_FORMAT}".encode())
    for (resource, use), impact in sorted(knowledge.impacts().items()):
        digest.update(f"{resource}/{use}/{impact!r}".encode())
    for key, factor in sorted(knowledge.emission_factors().items()):
        digest.update(f"{key}={factor.value}/{factor.unit}".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Bound:
    """What a pair with a counterpart could at best be worth, in the ranking's terms: the
    most money to share less haulage (øre), the most CO2e (kg), the least distance (km).
    The index computes it from the two listings' ``Terms``; every pair's ``rank_key`` is at
    or after it."""

    money_ore: float
    co2e_kg: float
    km: float

    @property
    def rank(self) -> tuple[float, float, float]:
        return (-self.money_ore, -self.co2e_kg, self.km)


def planned(
    offer: OpenListing, need: OpenListing, quantity: Decimal, plan_id: uuid.UUID, sources: int
) -> Proposal:
    """A proposal from an accepted park-wide plan: the plan's quantity, the pairwise rules
    that hold, and how the blend keeps the need's quality limits."""
    found = checks(offer, need)
    said = [
        Check(
            "plan",
            True,
            "plan.part",
            {
                "plan": str(plan_id),
                "planned": float(quantity),
                "needed": float(need.quantity),
                "unit": need.unit,
                "others": sources - 1,
            },
        )
    ]
    said.extend(c for c in found if c.rule not in ("companies", "window", "quantity") and c.holds)
    if any(c.rule.startswith("quality:") and not c.holds for c in found):
        said.append(Check("plan", True, "plan.blend"))
    value = value_of(offer, need, quantity)
    said.extend(_value_reasons(value, need.unit))
    reasons, details = _said(said)
    return Proposal(
        proposal_id=uuid.uuid5(
            PROPOSAL_NAMESPACE, f"{offer.listing_id}/{need.listing_id}/{plan_id}"
        ),
        offer=offer,
        need=need,
        quantity=quantity,
        unit=need.unit,
        reasons=reasons,
        value=value,
        origin="optimiser",
        plan_id=plan_id,
        details=details,
    )


def unblendable_limits_hold(offer: OpenListing, need: OpenListing) -> bool:
    """Whether every limit the need sets on a property that never blends (temperature,
    pressure) holds for this offer on its own."""
    return all(
        c.holds
        for c in _quality_checks(offer, need)
        if c.rule.removeprefix("quality:") in UNBLENDABLE
    )
