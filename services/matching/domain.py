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

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from shared import knowledge
from shared.events import ProposalValue, ReasonDetail
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
from shared.units import convert, dimension

PROPOSAL_NAMESPACE = uuid.UUID("6f1d9a4e-4c61-4f4e-9a53-7d0b2c1f3e11")
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
        """The farthest the listing's company will trade."""
        if self.max_distance_km is not None:
            return self.max_distance_km
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
    pipe goes as far as the offer's pipe goes)."""
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
