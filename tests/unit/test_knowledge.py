import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from shared import knowledge
from shared.ewc import catalogue
from shared.resources import RESOURCE_CLASSES


def test_the_use_graph_is_a_few_hundred_sourced_rows_over_the_park_chapters() -> None:
    rows = [rule for rules in knowledge.use_graph().values() for rule in rules]
    assert len(rows) >= 300
    assert all(rule.source and rule.basis in knowledge.BASIS_KINDS for rule in rows)
    chapters = {rule.resource[:2] for rule in rows if not rule.resource.startswith("class:")}
    assert {"02", "03", "10", "15", "17", "19", "20"} <= chapters
    assert any(not rule.allowed for rule in rows)  # it forbids uses too
    assert any(rule.permit for rule in rows) and any(rule.treatment for rule in rows)


def test_wood_residues_serve_a_need_for_wood_chips_and_not_the_other_way_round() -> None:
    assert {"030101", "150103", "170201", "200138"} <= knowledge.accepted_by("030105")
    found = knowledge.link("150103", "030105")
    assert found is not None and found.kind == "substitute" and found.use == "boiler_fuel"
    assert "ISO 17225-1" in found.basis
    assert knowledge.link("030105", "150103") is None
    assert knowledge.link("030105", "030105") is not None
    assert "030105" in knowledge.served_by("150103")


def test_a_use_resolves_to_the_codes_and_classes_that_serve_it() -> None:
    cement = knowledge.serving("cement_raw_material")
    assert {"100102", "100105", "020402", "030309", "class:slag"} <= cement  # ash, FGD
    # gypsum, sugar filter mud (calcium carbonate), lime mud
    assert "170405" not in cement
    assert {"020702", "020704", "class:fermentation_residue"} <= knowledge.serving(
        "biogas_feedstock"
    )
    assert "100101" in knowledge.serving("aggregate")  # bottom ash
    assert "100105" in knowledge.serving("plasterboard_raw_material")  # flue-gas gypsum
    assert "class:treated_wastewater" in knowledge.serving("process_water")


def test_a_forbidding_row_wins_over_a_broader_allowing_one() -> None:
    catering = knowledge.rule_for("200108", "animal_feed")
    assert catering is not None and not catering.allowed and "1069/2009" in catering.source
    assert knowledge.link("200108", None, "animal_feed") is None
    assert knowledge.link("200108", "200108", "animal_feed") is None  # even named outright
    sewage = knowledge.rule_for("190805", "animal_feed")
    assert sewage is not None and not sewage.allowed and "767/2009" in sewage.source
    assert knowledge.link("020704", None, "animal_feed") is not None  # brewers' grains may
    assert knowledge.link("class:seawater", None, "process_water") is None


def test_hazardous_codes_are_served_only_by_rows_that_name_them() -> None:
    for use in knowledge.use_names():
        for resource in knowledge.serving(use):
            entry = catalogue().get(resource)
            if entry is not None and entry.hazardous:
                assert (resource, use) in knowledge.use_graph()


def test_a_retired_class_serves_nothing() -> None:
    assert knowledge.link("class:by_product", "class:by_product") is None


def everything() -> Iterator[str]:
    yield from catalogue()
    yield from (f"class:{name}" for name in RESOURCE_CLASSES)


def test_an_offer_and_a_need_that_can_match_always_share_an_index_key() -> None:
    """The matcher finds counterparts by shared keys: if ``link`` says an offer serves a
    need (by name, class, substitute, or use), their keys meet."""
    needs = [
        *((None, use) for use in knowledge.use_names()),
        *((resource, None) for resource in everything()),
    ]
    for offer in everything():
        keys = knowledge.offer_keys(offer)
        for named, use in needs:
            if knowledge.link(offer, named, use) is not None:
                assert keys & knowledge.need_keys(named, use), (offer, named, use)


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    for name in knowledge.DATA.iterdir():
        if name.suffix == ".csv":
            shutil.copy(name, tmp_path / name.name)
    original = knowledge.DATA
    knowledge.DATA = tmp_path
    knowledge.use_graph.cache_clear()
    knowledge.impacts.cache_clear()
    yield tmp_path
    knowledge.DATA = original
    knowledge.use_graph.cache_clear()
    knowledge.impacts.cache_clear()


def test_the_loader_refuses_a_row_without_a_source(data: Path) -> None:
    with (data / "uses.csv").open("a") as handle:
        handle.write("030105,boiler_fuel,allowed,no,,BREF,\n")
    with pytest.raises(knowledge.KnowledgeError, match=r"uses.csv:\d+: every row needs"):
        knowledge.use_graph()


def test_the_loader_refuses_an_unknown_use_or_basis(data: Path) -> None:
    with (data / "uses.csv").open("a") as handle:
        handle.write("030105,teleportation,allowed,no,,BREF,somebody said so\n")
    with pytest.raises(knowledge.KnowledgeError, match="unknown use"):
        knowledge.use_graph()


def test_emission_factors_are_the_team_copy_and_the_added_ones_with_sources() -> None:
    factors = knowledge.emission_factors()
    assert len(factors) == 63  # the team's 62, unchanged, and one added with its source
    assert factors["freight.hgv.all"].unit == "kg CO2e/tkm"
    assert all(f.source and f.year for f in factors.values())
    readme = (knowledge.DATA / "README.md").read_text()
    assert "Open Government Licence v3.0" in readme


def test_every_impact_row_has_its_basis() -> None:
    table = knowledge.impacts()
    assert ("class:heat", "") not in table  # no sourced factor for heat
    for impact in table.values():
        assert impact.basis


def test_the_big_levers_are_estimated_from_sourced_factors() -> None:
    factors = knowledge.emission_factors()
    cement = float(factors["ice.cement.cem1"].value)
    landfill = float(factors["disp.concrete.landfill"].value)
    fly_ash = knowledge.avoided("100102", Decimal(100), "t", "cement_addition")
    assert fly_ash.kg == pytest.approx(100 * (0.4 * cement + landfill))  # EN 206 k = 0.4
    slag = knowledge.avoided("100202", Decimal(100), "t", "cement_addition")
    assert slag.kg == pytest.approx(100 * (0.6 * cement + landfill))
    gypsum = knowledge.avoided("100105", Decimal(100), "t", "plasterboard_raw_material")
    assert gypsum.kg is not None and gypsum.kg > 0 and "natural gypsum" in gypsum.basis
    residue = [{"property": "nitrogen", "unit": "%", "value": 1.5}]
    grown = knowledge.avoided(
        "class:fermentation_residue", Decimal(100), "t", "fertiliser", residue
    )
    assert grown.kg == pytest.approx(100 * 0.015 * float(factors["fert.an.n"].value))
    unstated = knowledge.avoided("class:fermentation_residue", Decimal(100), "t", "fertiliser")
    assert unstated.kg is None and "nitrogen" in unstated.basis
    co2 = knowledge.avoided("class:co2", Decimal(10), "t", "co2_use")
    assert co2.kg == pytest.approx(10_000)


def test_water_is_credited_only_for_the_mains_water_it_replaces() -> None:
    fresh = [{"property": "salinity", "unit": "g/l", "value": 0.2}]
    sea = [{"property": "salinity", "unit": "g/l", "value": 33}]
    assert (knowledge.avoided("class:process_water", Decimal(1000), "m3", None, fresh).kg or 0) > 0
    assert knowledge.avoided("class:process_water", Decimal(1000), "m3", None, sea).kg == 0
    assert knowledge.avoided("class:process_water", Decimal(1000), "m3").kg is None
    assert knowledge.avoided("class:seawater", Decimal(1_000_000), "m3").kg == 0


def test_nace_codes_come_from_the_shipped_list_and_activities_have_sourced_flows() -> None:
    activities = knowledge.nace()
    assert "16.11" in activities and "35.30" in activities and "00.00" not in activities
    flows = knowledge.flows_of("16.11")
    assert {f.resource for f in flows if f.direction == "output"} >= {"030101", "030105"}
    assert all(f.basis for f in knowledge.nace_flows())
    assert knowledge.flows_of("16.110") == flows  # a subclass gets its class's flows
