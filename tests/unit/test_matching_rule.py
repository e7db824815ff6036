import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.domain import (
    OpenListing,
    candidate_resources,
    locks_for,
    proposal_id,
    propose,
)
from shared import knowledge


def listing(
    kind: str, company: uuid.UUID, quantity: str = "10", unit: str = "t", code: str = "030105"
) -> OpenListing:
    return OpenListing(uuid.uuid4(), company, kind, code, None, "Sawdust", Decimal(quantity), unit)


def test_an_offer_and_a_need_of_the_same_code_make_a_proposal() -> None:
    offer = listing("offer", uuid.uuid4(), "12")
    need = listing("need", uuid.uuid4(), "5")
    proposal = propose(need, offer)
    assert proposal is not None
    assert proposal.offer == offer and proposal.need == need
    assert proposal.quantity == Decimal(5)
    assert proposal.proposal_id == proposal_id(offer.listing_id, need.listing_id)
    assert proposal.reasons[0] == "same List of Waste code 03 01 05"
    assert proposal.details[0].code == "resource.same_code"
    assert proposal.details[0].params == {"code": "030105"}


def test_the_same_pair_always_has_the_same_proposal_id() -> None:
    offer, need = listing("offer", uuid.uuid4()), listing("need", uuid.uuid4())
    first, second = propose(offer, need), propose(need, offer)
    assert first is not None and second is not None
    assert first.proposal_id == second.proposal_id


def test_no_proposal_within_one_company_or_between_same_kinds_or_codes() -> None:
    company = uuid.uuid4()
    assert propose(listing("offer", company), listing("need", company)) is None
    assert propose(listing("offer", uuid.uuid4()), listing("offer", uuid.uuid4())) is None
    assert (
        propose(listing("offer", uuid.uuid4()), listing("need", uuid.uuid4(), code="170405"))
        is None
    )


def test_quantities_convert_to_the_needs_unit() -> None:
    offer = listing("offer", uuid.uuid4(), "2", "t")
    need = listing("need", uuid.uuid4(), "500", "kg")
    proposal = propose(offer, need)
    assert proposal is not None
    assert (proposal.quantity, proposal.unit) == (Decimal(500), "kg")
    assert propose(offer, listing("need", uuid.uuid4(), "5", "m3")) is None


def of_class(kind: str, resource_class: str, quantity: int, unit: str) -> OpenListing:
    return OpenListing(
        uuid.uuid4(), uuid.uuid4(), kind, None, resource_class, "Heat", Decimal(quantity), unit
    )


def test_resource_classes_match_by_class() -> None:
    heat = of_class("offer", "heat", 5, "MWh")
    need = of_class("need", "heat", 800, "kWh")
    water = of_class("need", "process_water", 1, "m3")
    proposal = propose(heat, need)
    assert proposal is not None and proposal.quantity == Decimal(800)
    assert proposal.details[0].code == "resource.same_class"
    assert "the same kind of resource: Heat" in proposal.reasons[0]
    assert propose(heat, water) is None


def test_a_substitute_from_the_knowledge_base_is_proposed_with_its_basis() -> None:
    bark = listing("offer", uuid.uuid4(), "300", code="030101")
    chips = listing("need", uuid.uuid4(), "100", code="030105")
    proposal = propose(chips, bark)
    assert proposal is not None and proposal.offer == bark
    assert "fuel for a boiler" in proposal.reasons[0] and "ISO 17225-1" in proposal.reasons[0]
    assert proposal.details[0].code == "resource.substitute"
    assert proposal.details[0].params["use"] == "boiler_fuel"
    # the knowledge base is directional: chips do not serve a need for pallets
    pallets = listing("need", uuid.uuid4(), "1", code="150103")
    assert propose(listing("offer", uuid.uuid4(), code="030105"), pallets) is None


def substitute_pairs() -> list[tuple[str, str]]:
    return [(offer, need) for need, offers in knowledge.substitutes().items() for offer in offers]


@pytest.mark.parametrize(("offer_resource", "need_resource"), substitute_pairs())
def test_an_offer_and_a_need_that_can_match_share_a_lock_and_find_each_other(
    offer_resource: str, need_resource: str
) -> None:
    offer = listing("offer", uuid.uuid4(), code=offer_resource)
    need = listing("need", uuid.uuid4(), code=need_resource)
    assert set(locks_for(offer)) & set(locks_for(need))
    assert set(candidate_resources(offer)) & set(candidate_resources(need))
    assert locks_for(need) == sorted(locks_for(need))


def with_(base: OpenListing, **changes: object) -> OpenListing:
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def test_quality_limits_must_hold_for_the_offers_stated_values() -> None:
    dry = with_(
        listing("offer", uuid.uuid4()),
        quality=({"property": "moisture", "unit": "%", "value": 38},),
    )
    wet = with_(dry, quality=({"property": "moisture", "unit": "%", "value": 52},))
    unstated = with_(dry, quality=())
    need = with_(
        listing("need", uuid.uuid4()), quality=({"property": "moisture", "unit": "%", "max": 45},)
    )
    proposal = propose(dry, need)
    assert proposal is not None
    assert "moisture 38 % meets the need's limit of at most 45 %" in proposal.reasons
    assert propose(wet, need) is None
    assert propose(unstated, need) is None  # a limit the offer does not state cannot hold
    other_unit = with_(dry, quality=({"property": "moisture", "unit": "g/kg", "value": 38},))
    assert propose(other_unit, need) is None
    # an offer that states a bound, not a value, is explained in words
    bounded = with_(dry, quality=({"property": "moisture", "unit": "%", "max": 40},))
    proposal = propose(bounded, need)
    assert proposal is not None
    assert "moisture at most 40 % meets the need's limit of at most 45 %" in proposal.reasons
    ranged = with_(dry, quality=({"property": "moisture", "unit": "%", "min": 30, "max": 40},))
    assert "moisture 30 to 40 % meets" in " ".join(propose(ranged, need).reasons)  # type: ignore[union-attr]


def test_heat_must_be_warm_enough() -> None:
    heat = with_(
        of_class("offer", "heat", 5, "MWh"),
        quality=({"property": "temperature_c", "unit": "°C", "value": 40},),
    )
    greenhouse = with_(
        of_class("need", "heat", 2, "MWh"),
        quality=({"property": "temperature_c", "unit": "°C", "min": 35},),
    )
    hot_process = with_(
        greenhouse, quality=({"property": "temperature_c", "unit": "°C", "min": 80},)
    )
    assert propose(heat, greenhouse) is not None
    assert propose(heat, hot_process) is None


def test_windows_must_overlap() -> None:
    from datetime import date

    offer = with_(
        listing("offer", uuid.uuid4()),
        available_from=date(2027, 1, 1),
        available_until=date(2027, 3, 31),
    )
    need = listing("need", uuid.uuid4())
    assert propose(offer, with_(need, available_from=date(2027, 3, 1))) is not None
    assert propose(offer, with_(need, available_from=date(2027, 4, 1))) is None
    assert propose(offer, with_(need, available_until=date(2026, 12, 31))) is None


def test_sites_too_far_apart_are_not_proposed() -> None:
    offer = with_(listing("offer", uuid.uuid4()), latitude=59.25, longitude=11.03)
    near = with_(listing("need", uuid.uuid4()), latitude=59.27, longitude=11.05)
    bergen = with_(listing("need", uuid.uuid4()), latitude=60.39, longitude=5.32)
    proposal = propose(offer, near)
    assert proposal is not None and any("km apart" in r for r in proposal.reasons)
    assert propose(offer, bergen) is None
    assert propose(offer, listing("need", uuid.uuid4())) is not None  # no coordinates given


def test_checks_say_which_rule_fails_and_why() -> None:
    from services.matching.domain import checks

    company = uuid.uuid4()
    offer = listing("offer", company, "5", "m3", code="170405")
    need = listing("need", company, "5", "t", code="030105")
    failed = {c.rule: c.detail for c in checks(offer, need) if not c.holds}
    assert set(failed) == {"companies", "resource", "units"}
    assert "never proposed to its own need" in failed["companies"]
    assert "does not serve a need for 03 01 05" in failed["resource"]
    assert failed["units"].startswith("m3 cannot be converted to t")


def test_value_splits_the_price_gap_and_counts_road_transport() -> None:
    from services.matching.domain import TRANSPORT_FACTORS, distance_km
    from shared.knowledge import emission_factors

    offer = with_(
        listing("offer", uuid.uuid4(), "10", "t"),
        price_per_unit_ore=-15000,
        latitude=59.25,
        longitude=11.03,
    )  # the supplier pays a 150 NOK/t gate fee
    need = with_(
        listing("need", uuid.uuid4(), "4000", "kg"),
        price_per_unit_ore=5,
        latitude=59.27,
        longitude=11.05,
    )  # the receiver would pay 5 øre/kg
    proposal = propose(offer, need)
    assert proposal is not None
    value = proposal.value
    assert value.price_gap_ore_per_unit == Decimal(20)  # øre per kg
    assert (value.surplus_ore, value.supplier_surplus_ore, value.receiver_surplus_ore) == (
        80_000,
        40_000,
        40_000,
    )
    distance = distance_km(offer, need)
    assert distance is not None and 2 < distance < 3
    factor = sum(float(emission_factors()[k].value) for k in TRANSPORT_FACTORS)
    assert value.transport_kg_co2e == pytest.approx(4 * distance * factor, abs=0.01)
    assert value.factors == TRANSPORT_FACTORS
    # sawdust: the fuel it replaces is not estimated; the energy-recovery route it escapes is
    efw = float(emission_factors()["disp.any.efw"].value)
    assert value.co2e_avoided_kg == pytest.approx(4 * efw, abs=0.01)
    assert value.co2e_factors == ("disp.any.efw",)
    assert value.co2e_basis is not None and "not estimated" in value.co2e_basis
    assert value.co2e_net_kg == pytest.approx(
        value.co2e_avoided_kg - value.transport_kg_co2e, abs=0.02
    )
    assert "the prices leave 0.20 NOK per kg to share: 800 NOK in all" in proposal.reasons


def test_value_without_prices_or_places_is_left_empty() -> None:
    proposal = propose(listing("offer", uuid.uuid4()), listing("need", uuid.uuid4()))
    assert proposal is not None
    assert proposal.value.surplus_ore is None and proposal.value.transport_kg_co2e is None


def test_co2e_avoided_counts_production_replaced_less_reprocessing_and_disposal_escaped() -> None:
    from shared.knowledge import emission_factors

    factors = emission_factors()
    offer = listing("offer", uuid.uuid4(), "2", "t", code="150102")
    need = listing("need", uuid.uuid4(), "3000", "kg", code="150102")
    proposal = propose(offer, need)
    assert proposal is not None
    per_tonne = (
        factors["mat.plastics_avg.primary"].value
        - factors["mat.plastics_avg.closed_loop"].value
        + factors["disp.any.efw"].value
    )
    assert proposal.value.co2e_avoided_kg == pytest.approx(float(2 * per_tonne), abs=0.01)
    assert proposal.value.co2e_net_kg is None  # no sites given: transport unknown
    assert any("avoids about 3,204 kg CO2e" in reason for reason in proposal.reasons)


def test_water_counts_per_cubic_metre_and_heat_is_not_estimated() -> None:
    from shared.knowledge import emission_factors

    factors = emission_factors()
    fresh = ({"property": "salinity", "unit": "g/l", "value": 0.1},)
    water = [
        OpenListing(
            uuid.uuid4(), uuid.uuid4(), kind, None, "process_water", "Water", q, "m3", quality=fresh
        )
        for kind, q in (("offer", Decimal(100)), ("need", Decimal(40)))
    ]
    proposal = propose(*water)
    assert proposal is not None
    expected = 40 * (factors["util.water.supply"].value + factors["util.water.treatment"].value)
    assert proposal.value.co2e_avoided_kg == pytest.approx(float(expected), abs=0.01)
    heat = [
        OpenListing(uuid.uuid4(), uuid.uuid4(), kind, None, "heat", "Heat", Decimal(5), "MWh")
        for kind in ("offer", "need")
    ]
    proposal = propose(*heat)
    assert proposal is not None
    assert proposal.value.co2e_avoided_kg is None
    assert proposal.value.co2e_basis == "not estimated: no sourced factors for class:heat yet"


def test_a_hazardous_offer_goes_only_to_a_need_for_that_very_code() -> None:
    from services.matching.domain import checks

    sludge = listing("offer", uuid.uuid4(), code="190813")  # hazardous sludge
    same = listing("need", uuid.uuid4(), code="190813")
    proposal = propose(sludge, same)
    assert proposal is not None
    assert "19 08 13* is hazardous; the receiver has declared the permit to receive it" in (
        proposal.reasons
    )
    other = listing("need", uuid.uuid4(), code="190814")
    failed = [c for c in checks(sludge, other) if not c.holds]
    assert [c.rule for c in failed] == ["resource", "permit"]


def test_haulage_is_costed_only_at_a_rate_the_park_sets() -> None:
    sites = {"latitude": 59.25, "longitude": 11.03}
    offer = with_(listing("offer", uuid.uuid4(), "10", "t"), price_per_unit_ore=0, **sites)
    need = with_(
        listing("need", uuid.uuid4(), "10", "t"),
        price_per_unit_ore=10000,
        latitude=59.34,  # about 10 km north
        longitude=11.03,
    )
    unpriced = propose(offer, need)
    assert unpriced is not None and unpriced.value.transport_cost_ore is None
    priced = propose(offer, need, haulage_ore_per_tkm=150)
    assert priced is not None and priced.value.transport_tkm is not None
    assert priced.value.transport_cost_ore == pytest.approx(priced.value.transport_tkm * 150, abs=1)
    assert any("less 15" in r and "NOK for haulage" in r for r in priced.reasons)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[OpenListing, OpenListing]:
    companies = [uuid.UUID(int=1), uuid.UUID(int=2)]

    def one(kind: str) -> OpenListing:
        code = draw(st.sampled_from(["030105", "030101", "150103", "190813", "190814"]))
        unit = draw(st.sampled_from(["t", "kg", "MWh"]))
        quality = []
        if draw(st.booleans()):
            spec = draw(
                st.sampled_from(
                    [{"value": 1}, {"min": 1}, {"max": 1}, {"min": 1, "max": 1}, {"value": 1}]
                )
            )
            quality.append(
                {
                    "property": "moisture",
                    "unit": draw(st.sampled_from(["%", "mg/kg"])),
                    **{k: draw(st.integers(0, 60)) for k in spec},
                }
            )
        day = draw(st.one_of(st.none(), st.integers(0, 60)))
        end = draw(st.one_of(st.none(), st.integers(0, 60)))
        return OpenListing(
            uuid.uuid4(),
            draw(st.sampled_from(companies)),
            kind,
            code,
            None,
            "x",
            Decimal(draw(st.integers(1, 100))),
            unit,
            available_from=None if day is None else date(2027, 1, 1) + timedelta(days=day),
            available_until=None if end is None else date(2027, 1, 1) + timedelta(days=end),
            quality=tuple(quality),
            latitude=draw(st.one_of(st.none(), st.floats(58, 61))),
            longitude=draw(st.floats(8, 12)),
        )

    return one("offer"), one("need")


@settings(max_examples=2000, deadline=None)
@given(pairs())
def test_the_fast_verdict_is_the_verdict_of_every_rule(
    pair: tuple[OpenListing, OpenListing],
) -> None:
    from services.matching.domain import checks, fits

    offer, need = pair
    assert fits(offer, need) == all(c.holds for c in checks(offer, need))


# --- issue 16: what the evaluation found ------------------------------------------------

STEAM = (
    {"property": "pressure_bar", "unit": "bar", "value": 10},
    {"property": "temperature_c", "unit": "°C", "value": 250},
)


def test_steam_offered_in_tonnes_meets_a_need_in_mwh_through_the_steam_tables() -> None:
    offer = with_(of_class("offer", "steam", 100, "t"), quality=STEAM)
    need = of_class("need", "steam", 20, "MWh")
    proposal = propose(offer, need)
    assert proposal is not None and proposal.unit == "MWh"
    converted = next(d for d in proposal.details if d.code == "quantity.converted")
    # IAPWS-IF97: 2,943 kJ/kg at 10 bar and 250 °C, 763 kJ/kg as saturated condensate
    assert converted.params["converted"] == pytest.approx(100 * (2943.2 - 762.7) / 3600, rel=1e-3)
    # without its pressure and temperature, a tonne of steam says nothing of its energy
    assert propose(of_class("offer", "steam", 100, "t"), need) is None


def test_piped_heat_carries_no_road_transport_emissions() -> None:
    sites = {"latitude": 59.25, "longitude": 11.03}
    offer = with_(of_class("offer", "steam", 50, "t"), quality=STEAM, **sites)
    need = with_(of_class("need", "steam", 40, "t"), latitude=59.26, longitude=11.03)
    proposal = propose(offer, need)
    assert proposal is not None
    assert proposal.value.transport_mode == "pipe"
    assert proposal.value.transport_tkm is None and proposal.value.transport_kg_co2e == 0
    assert any(d.code == "transport.pipe" for d in proposal.details)
    by_road = with_(listing("offer", uuid.uuid4(), "50"), **sites)
    truck = propose(
        by_road, with_(listing("need", uuid.uuid4(), "40"), latitude=59.26, longitude=11.03)
    )
    assert truck is not None and truck.value.transport_mode == "road"
    assert (truck.value.transport_kg_co2e or 0) > 0


def test_a_listing_says_how_far_it_may_go() -> None:
    plant = with_(
        listing("offer", uuid.uuid4(), "500", code="100102"), latitude=59.25, longitude=11.03
    )
    kiln = with_(
        OpenListing(uuid.uuid4(), uuid.uuid4(), "need", None, None, "Fly ash", Decimal(400), "t"),
        use="cement_addition",
        latitude=60.78,  # about 170 km north
        longitude=11.03,
    )
    assert propose(plant, kiln) is None  # 100 km by road unless both say otherwise
    far = propose(with_(plant, max_distance_km=200.0), with_(kiln, max_distance_km=250.0))
    assert far is not None
    assert next(d for d in far.details if d.code == "distance.within").params["max_km"] == 200
    # heat goes only as far as a pipe goes
    heat = with_(
        of_class("offer", "heat", 10, "MWh"),
        quality=({"property": "temperature_c", "unit": "°C", "value": 90},),
        latitude=59.25,
        longitude=11.03,
    )
    town = with_(of_class("need", "heat", 5, "MWh"), latitude=59.47, longitude=11.03)  # 24 km
    assert propose(heat, town) is None


def test_a_need_that_names_a_use_is_served_by_what_the_knowledge_base_allows() -> None:
    need = OpenListing(
        uuid.uuid4(), uuid.uuid4(), "need", None, None, "Biogas feedstock", Decimal(100), "t"
    )
    need = with_(need, use="biogas_feedstock")
    spent_grain = listing("offer", uuid.uuid4(), "50", code="020704")
    proposal = propose(spent_grain, need)
    assert proposal is not None
    rule = proposal.details[0]
    assert rule.code == "resource.use" and rule.params["use"] == "biogas_feedstock"
    assert rule.params["basis_kind"] == "BREF" and "Waste Treatment" in rule.params["source"]
    assert propose(listing("offer", uuid.uuid4(), code="170405"), need) is None  # steel
    # a use the knowledge base forbids rules the resource out
    feed = with_(need, use="animal_feed")
    assert propose(listing("offer", uuid.uuid4(), code="200108"), feed) is None
    assert propose(listing("offer", uuid.uuid4(), code="020704"), feed) is not None


def test_a_need_accepts_any_of_several_resources() -> None:
    need = with_(listing("need", uuid.uuid4(), "10", code="030105"), accepts=("030101", "150103"))
    assert propose(listing("offer", uuid.uuid4(), code="150103"), need) is not None
    assert propose(listing("offer", uuid.uuid4(), code="170405"), need) is None
    accepted = with_(listing("need", uuid.uuid4(), "10", code="170405"), accepts=("030101",))
    proposal = propose(listing("offer", uuid.uuid4(), code="030101"), accepted)
    assert proposal is not None and proposal.details[0].code == "resource.accepted"


def test_flue_gas_gypsum_meets_a_plasterboard_makers_need_for_gypsum() -> None:
    fgd = listing("offer", uuid.uuid4(), "1000", code="100105")
    gypsum = of_class("need", "gypsum", 800, "t")
    proposal = propose(fgd, gypsum)
    assert proposal is not None and proposal.details[0].code == "resource.member"
    assert (proposal.value.co2e_avoided_kg or 0) > 0  # no longer "not estimated"


def test_the_retired_by_product_class_matches_nothing() -> None:
    granulate = of_class("offer", "by_product", 10, "t")
    feed = of_class("need", "by_product", 10, "t")
    assert propose(granulate, feed) is None


@settings(max_examples=1000, deadline=None)
@given(pairs(), st.booleans(), st.booleans())
def test_the_fast_verdict_holds_with_permits_and_without_quality(
    pair: tuple[OpenListing, OpenListing], with_permits: bool, quality: bool
) -> None:
    """The optimiser's use of the fast path: a described park's permits, and every rule but
    quality (a blend keeps quality)."""
    from services.matching.domain import checks, fits

    offer, need = pair
    permits = {need.company_id: frozenset({"190813"})} if with_permits else None
    expected = all(
        c.holds
        for c in checks(offer, need, permits=permits)
        if quality or not c.rule.startswith("quality:")
    )
    assert fits(offer, need, permits=permits, quality=quality) == expected
