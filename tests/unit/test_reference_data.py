from decimal import Decimal

import pytest

from services.listings import domain
from shared.ewc import ATTRIBUTION, EWC_FILE, catalogue, lookup
from shared.units import convert, format_quantity


def test_the_list_of_waste_is_complete_and_attributed() -> None:
    assert len(catalogue()) == 842
    assert "Open Government Licence v3.0" in ATTRIBUTION
    assert "Open Government Licence v3.0" in (EWC_FILE.parent / "README.md").read_text()


@pytest.mark.parametrize("spelling", ["030105", "03 01 05", "03-01-05", " 03.01.05 "])
def test_codes_are_found_in_every_usual_spelling(spelling: str) -> None:
    entry = lookup(spelling)
    assert entry.code == "030105"
    assert not entry.hazardous
    assert entry.display == "03 01 05"


def test_hazardous_entries_are_flagged() -> None:
    entry = lookup("030104")
    assert entry.hazardous
    assert entry.display == "03 01 04*"


@pytest.mark.parametrize("code", ["999999", "0301", "abcdef", ""])
def test_unknown_codes_are_refused_with_a_readable_reason(code: str) -> None:
    with pytest.raises(ValueError, match="not a code of the European List of Waste"):
        domain.waste_code(code)


def test_organisation_numbers_are_mod11_checked() -> None:
    assert domain.organisation_number("921 081 146") == "921081146"
    with pytest.raises(ValueError, match="not a valid Norwegian organisation number"):
        domain.organisation_number("921081147")
    with pytest.raises(ValueError):
        domain.organisation_number("12345")


@pytest.mark.parametrize("value", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_quantities_must_be_positive_and_finite(value: Decimal) -> None:
    with pytest.raises(ValueError):
        domain.positive_quantity(value)


def test_units_convert_within_a_dimension_only() -> None:
    assert convert(Decimal(2), "t", "kg") == Decimal(2000)
    assert convert(Decimal(1500), "kWh", "MWh") == Decimal("1.5")
    assert convert(Decimal(1), "t", "m3") is None
    assert format_quantity(Decimal("600.000"), "t") == "600 t"
    assert format_quantity(Decimal("2.50")) == "2.5"
