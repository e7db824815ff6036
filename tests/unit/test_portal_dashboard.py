"""The dashboard's arithmetic: the period asked for, the Sankey links, the routes drawn on
the plan."""

from __future__ import annotations

from datetime import date

import pytest

from services.portal import plan
from services.portal.dashboard import (
    company_markers,
    exchange_lines,
    period,
    placed,
    resource_name,
    sankey,
)
from services.portal.i18n import speaking

TODAY = date(2027, 3, 15)
A, B, C = "a" * 8, "b" * 8, "c" * 8


def test_presets_and_typed_dates_give_the_period() -> None:
    assert period("year", None, None, TODAY)[:2] == (date(2027, 1, 1), TODAY)
    assert period("30d", None, None, TODAY)[:2] == (date(2027, 2, 13), TODAY)
    assert period("all", "2027-01-01", None, TODAY)[:2] == (None, None)
    assert period(None, "2027-01-01", "2027-02-01", TODAY) == (
        date(2027, 1, 1),
        date(2027, 2, 1),
        {},
    )


def test_a_bad_period_names_its_field_in_the_persons_language() -> None:
    with speaking("en"):
        assert period(None, "2027-02-30", None, TODAY)[2] == {"start": "Enter a date."}
        assert period(None, "2027-03-01", "2027-02-01", TODAY)[2] == {
            "start": "The start is after the end."
        }
    with speaking("nb"):
        assert period(None, "2027-03-01", "2027-02-01", TODAY)[2] == {
            "start": "Starten er etter slutten."
        }


def test_sankey_goes_supplier_resource_receiver_and_adds_up_per_unit() -> None:
    flows = [
        {"source": A, "target": B, "resource": "030105", "unit": "t", "quantity": "40"},
        {"source": C, "target": B, "resource": "030105", "unit": "t", "quantity": "10"},
        {"source": A, "target": C, "resource": "class:heat", "unit": "MWh", "quantity": "5"},
    ]
    with speaking("en"):
        chart = sankey(flows, {A: "Sagbruk", B: "Bioenergi"})
    links = {(link["from"], link["to"]): link["flow"] for link in chart["links"]}
    assert links == {
        (f"s:{A}", "x:030105:t"): 40,
        ("x:030105:t", f"r:{B}"): 50,
        (f"s:{C}", "x:030105:t"): 10,
        (f"s:{A}", "x:class:heat:MWh"): 5,
        ("x:class:heat:MWh", f"r:{C}"): 5,
    }
    assert chart["labels"][f"s:{A}"] == "Sagbruk"
    assert chart["labels"][f"s:{C}"] == "another company"  # not a known company
    assert chart["labels"]["x:030105:t"] == "03 01 05 Sawdust (tonnes)"
    assert chart["labels"]["x:class:heat:MWh"].startswith("Heat")


def test_routes_join_companies_on_the_map_and_skip_those_far_from_the_park() -> None:
    companies = placed(
        [
            {"id": A, "name": "Sagbruk", "location": {"latitude": 59.25, "longitude": 11.03}},
            {"id": B, "name": "Bioenergi", "location": {"latitude": 59.245, "longitude": 11.035}},
            {"id": C, "name": "Far away", "location": {"latitude": 60.0, "longitude": 10.0}},
        ]
    )
    assert "lat" not in companies[C]
    flows = [
        {"source": A, "target": B, "resource": "030105", "deliveries": 2},
        {"source": A, "target": B, "resource": "030101", "deliveries": 1},
        {"source": A, "target": C, "resource": "030105", "deliveries": 1},
    ]
    (line,) = exchange_lines(flows, companies)
    assert (line["from"], line["to"]) == ([59.25, 11.03], [59.245, 11.035])
    assert line["deliveries"] == 3 and line["weight"] == 5
    what = f"{resource_name('030105')}, {resource_name('030101')}"
    assert line["label"] == f"Sagbruk → Bioenergi: {what}"
    data = plan.map_data("credit", markers=company_markers(companies), lines=[line])
    assert [m["label"] for m in data["markers"]] == ["Sagbruk", "Bioenergi"]
    assert data["tiles"]["url"].startswith("https://tile.openstreetmap.org/")
    assert data["plan"] == [[plan.SOUTH, plan.WEST], [plan.NORTH, plan.EAST]]


def test_the_map_covers_the_park_and_every_point_drawn_on_it() -> None:
    near = plan.marker(59.30, 11.10, "Neighbour")
    data = plan.map_data("credit", markers=[near, plan.marker(None, None)], pick=True)
    assert data["bounds"] == [[plan.SOUTH, plan.WEST], [59.30, 11.10]]
    assert data["pick"] and len(data["markers"]) == 1
    assert plan.near_park(59.30, 11.10) and not plan.near_park(60.0, 10.0)
    assert plan.distance_km((59.0, 11.0), (60.0, 11.0)) == pytest.approx(111.2, abs=0.1)
