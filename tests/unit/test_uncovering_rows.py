"""Uncovering (``shared.uncovering``) on the sourced NACE rows the evaluation found missing:
each test fails without its row in ``shared/data/nace-flows.csv``."""

from shared import knowledge, uncovering


def _suggested(resource: str, top: int = uncovering.TOP) -> list[str]:
    return [a.nace for a in uncovering.receivers(resource, top)]


def test_a_precipitated_calcium_carbonate_maker_is_suggested_for_flue_gas_co2() -> None:
    assert "20.13" in _suggested("class:co2")
    found = next(a for a in uncovering.receivers("class:co2") if a.nace == "20.13")
    assert found.uses == ("co2_use",)
    assert any("Precipitated calcium carbonate" in b for b in found.basis)


def test_earthworks_are_suggested_for_coal_bottom_ash_as_fill() -> None:
    assert "43.12" in _suggested("100103")


def test_a_biogas_plant_is_a_receiver_of_heat_for_its_digesters() -> None:
    uses = {f.resource for f in knowledge.flows_of("35.21") if f.direction == "input"}
    assert "process_heat" in uses
    assert "35.21" in _suggested("class:heat", top=50)


def test_a_nickel_or_zinc_refinery_is_suggested_for_sulphuric_acid() -> None:
    """Hydrometallurgy leaches with sulphuric acid (Non-Ferrous Metals BREF): the acid went
    only to chemical works and sewage plants before."""
    suggested = _suggested("class:acid")
    assert {"24.43", "24.45"} <= set(suggested)
    assert knowledge.rule_for("class:acid", "metal_leaching") is not None


def test_a_tissue_mill_is_suggested_for_office_paper() -> None:
    assert "17.22" in _suggested("200101")


def test_a_blast_furnace_takes_waste_plastics_as_reducing_agent() -> None:
    assert "24.10" in _suggested("150102", top=50)
    rule = knowledge.rule_for("150102", "reducing_agent")
    assert rule is not None and rule.allowed and rule.permit
    assert "Iron and Steel" in rule.source


def test_a_district_heating_plant_burns_fuel_gas() -> None:
    assert "35.30" in _suggested("class:fuel_gas")


def test_gases_and_liquids_are_not_burnt_on_the_solid_biofuel_standard() -> None:
    """The fuel-gas and liquid-biofuel rows for boilers cited ISO 17225-1 (solid biofuels)."""
    for resource in ("class:fuel_gas", "class:liquid_biofuel"):
        rule = knowledge.rule_for(resource, "boiler_fuel")
        assert rule is not None and "Solid biofuels" not in rule.source
        assert "Large Combustion Plants" in rule.source
