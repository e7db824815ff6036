from shared import knowledge


def test_the_uses_table_loads_and_every_row_has_its_basis() -> None:
    table = knowledge.uses()
    assert sum(len(offers) for offers in table.values()) >= 15
    assert all(use.basis for offers in table.values() for use in offers.values())


def test_wood_residues_serve_a_need_for_wood_chips_and_not_the_other_way_round() -> None:
    assert {"030101", "150103", "170201", "200138"} <= knowledge.accepted_by("030105")
    use = knowledge.link("150103", "030105")
    assert use is not None and use.use == "biomass boiler fuel" and "ISO 17225-1" in use.basis
    assert knowledge.link("030105", "150103") is None
    assert knowledge.link("030105", "030105") is not None
    assert "030105" in knowledge.served_by("150103")
    assert knowledge.served_by("999999") == {"999999"}


def test_emission_factors_are_the_team_copy_with_sources() -> None:
    factors = knowledge.emission_factors()
    assert len(factors) == 62
    assert factors["freight.hgv.all"].unit == "kg CO2e/tkm"
    assert all(f.source and f.year for f in factors.values())
    readme = (knowledge.DATA / "README.md").read_text()
    assert "Open Government Licence v3.0" in readme


def test_every_impact_row_has_sourced_factors_in_one_unit() -> None:
    table = knowledge.impacts()
    factors = knowledge.emission_factors()
    assert "class:heat" not in table and "class:co2" not in table  # no sourced factor
    for impact in table.values():
        assert impact.basis
        assert len({factors[key].unit for key in impact.factor_keys}) == 1
