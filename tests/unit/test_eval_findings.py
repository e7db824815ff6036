"""The causes the evaluation (``make eval``) found, each held by a test: a need naming a
class that another class serves by the use graph, rows missing from or wrong in the use
graph, a use that lumped liming in with fertilisers, and a need's default distance that
ignored how the offer moves."""

import uuid
from dataclasses import replace
from decimal import Decimal

from services.matching.domain import OpenListing, fits, propose
from shared import knowledge


def offer(
    code: str | None = None, resource_class: str | None = None, **more: object
) -> OpenListing:
    made = OpenListing(
        uuid.uuid4(), uuid.uuid4(), "offer", code, resource_class, "Offer", Decimal(1000), "t"
    )
    return replace(made, **more)  # type: ignore[arg-type]


def need(
    code: str | None = None,
    resource_class: str | None = None,
    use: str | None = None,
    **more: object,
) -> OpenListing:
    made = OpenListing(
        uuid.uuid4(),
        uuid.uuid4(),
        "need",
        code,
        resource_class,
        "Need",
        Decimal(500),
        "t",
        use=use,
    )
    return replace(made, **more)  # type: ignore[arg-type]


def test_treated_wastewater_serves_a_need_for_process_water_by_class() -> None:
    water = offer(resource_class="treated_wastewater", unit="m3")
    refinery = need(resource_class="process_water", unit="m3")
    made = propose(water, refinery)
    assert made is not None
    rule = made.details[0]
    assert rule.code == "resource.substitute"
    assert "Water Reuse" in rule.params["basis"]
    assert rule.params["treatment"]  # treated further to the receiver's quality
    # the quality the receiver asks for still decides
    strict = replace(refinery, quality=({"property": "cod", "unit": "mg/l", "max": 5},))
    assert propose(water, strict) is None
    # seawater does not become process water
    assert propose(offer(resource_class="seawater", unit="m3"), refinery) is None


def test_bauxite_residue_is_a_soil_amendment_with_its_treatment_and_permit() -> None:
    made = propose(offer("010309"), need(use="fertiliser"))
    assert made is not None
    rule = made.details[0]
    assert rule.code == "resource.use"
    assert rule.params["permit"] and "neutralisation" in rule.params["treatment"]
    assert "Evans" in rule.params["source"]
    assert propose(offer("010309"), need(use="animal_feed")) is None


def test_pulp_mill_sludge_is_boiler_fuel_under_a_co_incineration_permit() -> None:
    for code in ("030311", "030305"):
        made = propose(offer(code), need(use="boiler_fuel"))
        assert made is not None, code
        assert made.details[0].params["permit"]


def test_gypsum_is_not_offered_as_a_clinker_replacement() -> None:
    kiln = need(use="cement_addition")
    assert propose(offer("100105"), kiln) is None
    assert propose(offer(resource_class="gypsum"), kiln) is None
    # it still serves cement making (interground as set regulator) and plasterboard
    assert propose(offer("100105"), need(use="cement_raw_material")) is not None
    assert propose(offer("100105"), need(use="plasterboard_raw_material")) is not None
    # fly ash and slag still replace clinker
    assert propose(offer("100102"), kiln) is not None
    assert propose(offer("100202"), kiln) is not None


def test_liming_material_is_a_use_of_its_own() -> None:
    assert "liming_material" in knowledge.use_names()
    farm = need(use="liming_material")
    assert propose(offer("020402"), farm) is not None  # sugar factory lime
    assert propose(offer("030309"), farm) is not None  # lime mud
    assert propose(offer("020704"), farm) is None  # brewers' grains do not lime a soil
    assert propose(offer("020401"), farm) is None  # nor does soil washed off beet


def test_an_offer_sent_by_rail_reaches_a_need_that_sets_no_distance() -> None:
    gypsum = offer("100105", latitude=59.0, longitude=11.0)
    # about 150 km north
    board = need(use="plasterboard_raw_material", latitude=60.35, longitude=11.0)
    assert propose(gypsum, board) is None  # by road: 100 km
    by_rail = replace(gypsum, transport_mode="rail")
    made = propose(by_rail, board)
    assert made is not None
    assert next(d for d in made.details if d.code == "distance.within").params["max_km"] == 300
    assert fits(by_rail, board)
    # a need that states its own maximum, or that it takes only road deliveries, keeps it
    assert propose(by_rail, replace(board, max_distance_km=120.0)) is None
    assert propose(by_rail, replace(board, transport_mode="road")) is None
    # and a pipe still goes only as far as a pipe goes
    steam = offer(resource_class="steam", unit="t", latitude=59.0, longitude=11.0)
    assert (
        propose(steam, need(resource_class="steam", unit="t", latitude=60.35, longitude=11.0))
        is None
    )
