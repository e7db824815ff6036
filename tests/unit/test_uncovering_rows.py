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
