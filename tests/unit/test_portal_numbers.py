"""Numbers in the portal's fields follow the page's language: a bokmål page shows a
coordinate, a quantity or a price with a decimal comma (59,2134), an English one with a
point; both forms are read back, on every form and in the search's filters."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from services.portal.forms import machine_number, number, profile_body, signup_body
from services.portal.i18n import speaking
from services.portal.profile import profile_values
from services.portal.templating import coordinate, decimal_input, environment


def field(language: str, name: str, value: Any, attrs: str = "inputmode=decimal") -> str:
    template = environment().get_template("partials/field.html")
    with speaking(language):  # type: ignore[arg-type]
        return template.render(
            name=name, label=name, attrs=attrs, values={name: value}, errors=None
        )


@pytest.mark.parametrize(
    ("language", "shown"), [("nb", 'value="59,2134"'), ("en", 'value="59.2134"')]
)
def test_a_coordinate_on_the_profile_form_is_written_as_the_page_writes_numbers(
    language: str, shown: str
) -> None:
    values = profile_values({"name": "Sagbruk AS", "location": {"latitude": 59.2134}})
    assert shown in field(language, "latitude", values["latitude"])


def test_every_kind_of_number_a_service_gives_is_shown_with_the_pages_decimal_sign() -> None:
    with speaking("nb"):
        assert decimal_input(59.2134) == "59,2134"
        assert decimal_input("-11.03") == "-11,03"
        assert decimal_input(Decimal("150.50")) == "150,5"
        assert decimal_input("1200") == "1200"  # no grouping in a field
        assert decimal_input(3) == "3"
        assert decimal_input(None) == ""
    with speaking("en"):
        assert decimal_input("59.2134") == "59.2134"
        assert decimal_input(1200.5) == "1200.5"


@pytest.mark.parametrize("typed", ["59,2134", "nord", "1 200,5", "12.5.6", ""])
def test_what_a_person_typed_is_shown_back_as_typed(typed: str) -> None:
    with speaking("nb"):
        assert decimal_input(typed) == typed
    assert f'value="{typed}"' in field("nb", "latitude", typed)


def test_only_number_fields_are_rewritten() -> None:
    assert 'value="16.10"' in field("nb", "nace_codes", "16.10", attrs="")
    assert 'value="1617"' in field("nb", "postcode", "1617", attrs="inputmode=numeric")


@pytest.mark.parametrize("typed", ["59,2134", "59.2134", " 59,2134 "])
def test_a_coordinate_is_read_with_a_comma_or_a_point(typed: str) -> None:
    form = {"name": "Sagbruk AS", "latitude": typed, "longitude": "11,03"}
    assert profile_body(form)["location"] == {"latitude": 59.2134, "longitude": 11.03}
    signup = {
        **form,
        "org_number": "923609016",
        "admin_name": "Kari",
        "email": "kari@sagbruk.example",
        "password": "ti tegn og mer",
        "again": "ti tegn og mer",
    }
    assert signup_body(signup)["location"] == {"latitude": 59.2134, "longitude": 11.03}


def test_a_minus_sign_is_read_as_a_minus() -> None:
    assert number("\u221211,5") == Decimal("-11.5")


@pytest.mark.parametrize(
    ("typed", "sent"),
    [("2,5", "2.5"), ("2.5", "2.5"), ("1 200", "1200"), ("", ""), ("langt", "langt")],
)
def test_a_number_filter_is_sent_as_the_api_reads_it(typed: str, sent: str) -> None:
    assert machine_number(typed) == sent


def test_a_refused_form_keeps_the_place_typed_with_a_comma_on_the_plan() -> None:
    """The plan places the marker from what was typed, in either form (a comma was read as
    no number, and the marker went off the plan)."""
    assert coordinate("59,2134") == coordinate("59.2134") == coordinate(59.2134) == 59.2134
    assert coordinate("nord") is None and coordinate("") is None and coordinate(None) is None
    template = environment().get_template("partials/plan.html")
    with speaking("nb"):
        typed, written = (
            template.render(latitude=lat, longitude=lon, interactive=True, values={}, errors=None)
            for lat, lon in (("59,249", "11,033"), (59.249, 11.033))
        )
    marker = re.compile(r'<circle class="marker" r="10" cx="([-\d.]+)" cy="([-\d.]+)"')
    found = marker.search(typed)
    assert found and found.groups() != ("-100", "-100")
    assert found.groups() == marker.search(written).groups()  # type: ignore[union-attr]
