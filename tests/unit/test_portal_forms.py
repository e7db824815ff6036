"""The portal's pure parts: forms into API bodies, refusals into words, the park plan,
the relayed event stream and the waste-code picker."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.messages.pofile import read_po

from services.portal.client import ApiProblem
from services.portal.forms import (
    LISTING_FIELDS,
    PROFILE_FIELDS,
    listing_body,
    listing_fields,
    number,
    ore,
    profile_body,
    terms_body,
)
from services.portal.i18n import catalogue_path, speaking
from services.portal.inbox import parse_events
from services.portal.listings import find_waste_codes, quality_rows
from services.portal.pages import local_path
from services.portal.plan import on_plan, to_point, to_position, zone_of
from services.portal.problems import FormErrors, explain
from services.portal.profile import profile_values
from services.portal.templating import quoting, typed_text
from services.portal.vocabulary import property_choices, word
from shared.reasons import resource
from shared.resources import MATERIAL_PROPERTIES, RESOURCE_CLASSES
from tests.support import REPO


def test_numbers_are_read_with_a_decimal_comma_and_spaces() -> None:
    assert number("12,5") == Decimal("12.5")
    assert number(" 1 200.75 ") == Decimal("1200.75")
    with pytest.raises(ValueError):
        number("plenty")
    assert ore(Decimal("150.505")) == 15051


def test_a_listing_form_becomes_a_draft_with_a_gate_fee_and_a_place() -> None:
    body = listing_body(
        {
            "kind": "offer",
            "ewc_code": "02 01 03",
            "title": "Plant trimmings",
            "quantity": "30,5",
            "unit": "t",
            "frequency": "monthly",
            "price": "120",
            "gate_fee": "1",
            "quality_0_property": "moisture",
            "quality_0_max": "45",
            "latitude": "59.25",
            "longitude": "11.03",
            "publish": "1",
        },
        new=True,
    )
    assert body["ewc_code"] == "02 01 03" and "resource_class" not in body
    assert body["quantity"] == "30.5"
    assert body["price_per_unit_ore"] == -12000
    assert body["quality"] == [{"property": "moisture", "unit": "%", "max": 45.0}]
    assert body["location"] == {"latitude": 59.25, "longitude": 11.03}
    assert body["publish"] is True


def test_every_wrong_field_of_a_listing_is_named_at_once() -> None:
    with speaking("nb"), pytest.raises(FormErrors) as refused:
        listing_body(
            {"kind": "offer", "title": "", "quantity": "-2", "unit": "t", "latitude": "59.2"},
            new=True,
        )
    assert set(refused.value.fields) == {"ewc_code", "title", "quantity", "longitude"}
    assert refused.value.fields["quantity"] == "Skriv et tall større enn null."


def test_a_counter_offer_needs_a_price() -> None:
    with speaking("en"), pytest.raises(FormErrors) as refused:
        terms_body({"quantity": "15"}, "t")
    assert refused.value.fields == {"price": "This field is required."}
    body = terms_body({"quantity": "15", "price": "150,50", "transport": "supplier"}, "t")
    assert body["price_per_unit_ore"] == 15050 and body["unit"] == "t"


def test_a_service_refusal_becomes_words_at_the_field() -> None:
    problem = ApiProblem(
        400,
        "The request is not valid",
        "ewc_code: '999999' is not a code of the European List of Waste",
        [
            {
                "field": "ewc_code",
                "message": "'999999' is not a code of the European List of Waste",
                "code": "listing.ewc_code_unknown",
                "params": {"value": "999999"},
            }
        ],
    )
    with speaking("nb"):
        said = explain(problem, LISTING_FIELDS)
    assert said.fields == {"ewc_code": "Dette er ikke en kode i den europeiske avfallslisten."}
    assert said.detail == ""  # the service's English is never shown
    with speaking("en"):
        price = ApiProblem(
            400,
            "Bad",
            "price_per_unit_ore: less than...",
            [
                {
                    "field": "price_per_unit_ore",
                    "message": "Input should be less than or equal to 100000000000",
                    "code": "value.less_than_equal",
                    "params": {"le": 100000000000},
                }
            ],
        )
        assert explain(price, LISTING_FIELDS).fields == {"price": "Enter 100,000,000,000 or less."}
        assert explain(ApiProblem(503, "Service unavailable")).summary.startswith("The exchange")
        assert explain(ApiProblem(500, "Internal error")).fields == {}


def test_quality_properties_are_chosen_from_the_resources_with_their_units() -> None:
    """A quality row offers the properties the exchange knows for the resource chosen, in
    the reader's words with their units; a listing's property from before is kept."""
    # every property has its words in both languages, in shared/resources.py alone
    for known in (
        *MATERIAL_PROPERTIES,
        *(p for c in RESOURCE_CLASSES.values() for p in c.properties),
    ):
        assert known.label and known.label_nb and "_" not in known.label + known.label_nb, known
    # and the portal shows those words, as each resource names its properties
    for language in ("nb", "en"):
        with speaking(language):
            for c in RESOURCE_CLASSES.values():
                shown = {x.name: x.label for x in property_choices((f"class:{c.name}",))}
                for known in c.properties:
                    said = known.label_nb if language == "nb" else known.label
                    assert shown[known.name] == said, (c.name, known.name, language)
    with speaking("en"):
        water = quality_rows({"resource_class": "treated_wastewater"})[0].choices
        assert ("cod", "chemical oxygen demand (COD)", "mg/l") in [
            (c.name, c.label, c.unit_words) for c in water
        ]
    with speaking("nb"):
        heat = quality_rows({"resource_class": "heat", "quality_0_property": "capacity_mw"})
        offered = [(c.name, c.label, c.unit_words) for c in heat[0].choices]
        assert offered[:3] == [
            ("temperature_c", "turtemperatur", "°C"),
            ("return_temperature_c", "returtemperatur", "°C"),
            ("capacity_mw", "effekt", "MW"),
        ]
        assert ("months_available", "måneder tilgjengelig i året", "måneder") in offered
        assert (heat[0].current, heat[0].unit_words, heat[1].current) == ("capacity_mw", "MW", "")
        sawdust = quality_rows({"ewc_code": "03 01 05"})[0].choices
        assert ("moisture", "fuktighet") in [(c.name, c.label) for c in sawdust]
        assert "temperature_c" not in [c.name for c in sawdust]
        older = {"ewc_code": "030105", "resource_class": None, "accepts": []}
        kept = quality_rows(
            {"quality_0_property": "moisture_lc", "quality_0_unit": "%"}, listing=older
        )[0]
        assert (kept.choices[0].name, kept.kept_unit, kept.unit_words) == ("moisture_lc", "%", "%")
    body = listing_body(
        {
            "title": "Chips",
            "quantity": "3",
            "quality_0_property": "lhv_mj_per_kg",
            "quality_0_value": "18,5",
            "quality_0_unit": "%",
        },
        new=False,
    )
    assert body["quality"] == [{"property": "lhv_mj_per_kg", "unit": "MJ/kg", "value": 18.5}]


def test_resource_classes_are_named_as_shared_names_them() -> None:
    """The portal names a resource class with the words of shared/resources.py, as the
    services' reasons and documents do, and keeps no copy of them in its catalogues (the
    copy had drifted: 'Karbondioksid' on the pages, 'Karbondioksid (CO2)' in reasons)."""
    for language in ("nb", "en"):
        with catalogue_path(language).open("rb") as handle:
            ids = {str(m.id) for m in read_po(handle, locale=language) if m.id}
        with speaking(language):
            for name, kind in RESOURCE_CLASSES.items():
                said = kind.label_nb if language == "nb" else kind.label
                assert word(name) == said == resource(f"class:{name}", language), name
                assert kind.label not in ids, (language, kind.label)
    with speaking("nb"):
        assert word("co2") == "Karbondioksid (CO2)"
    with speaking("en"):
        assert word("by_product") == "Non-waste by-product (retired)"


def test_an_unknown_quality_property_is_said_at_its_row() -> None:
    problem = ApiProblem(
        400,
        "The request is not valid",
        "quality.1.property: dust is not a quality property of this resource",
        [
            {
                "field": "quality.1.property",
                "message": "dust is not a quality property of this resource; one of moisture",
                "code": "listing.quality_unknown",
                "params": {"property": "dust", "properties": ["moisture"]},
            },
        ],
    )
    # the rows sent were the form's first and third: the second sent is the third row
    form = {"quality_0_property": "moisture", "quality_2_property": "dust"}
    with speaking("nb"):
        said = explain(problem, listing_fields(form), default_field="title")
    assert said.fields == {
        "quality_2_property": "Børsen kjenner ikke dust for denne ressursen: velg en av "
        "egenskapene i listen."
    }
    unit = ApiProblem(
        400,
        "Bad",
        "",
        [
            {
                "field": "quality.0.unit",
                "code": "listing.quality_unit",
                "params": {"property": "months_available", "unit": "months", "given": "h"},
            },
        ],
    )
    with speaking("nb"):
        said = explain(unit, listing_fields({"quality_0_property": "months_available"}))
    assert said.fields == {"quality_0_property": "måneder tilgjengelig i året oppgis i måneder."}


def test_no_sentence_of_a_service_is_read() -> None:
    """Two refusals alike in code and parameters read alike whatever their English says,
    and a code the portal does not know is said in general words, not in the service's."""
    base = {"field": "quantity", "code": "delivery.more_than_left", "params": {"left": "279.5"}}
    said = []
    for sentence in ("at most 279.5 t can be recorded", "the quantity must be a number"):
        problem = ApiProblem(
            409,
            "More",
            sentence,
            [{**base, "message": sentence, "params": {"left": "279.5", "unit": "t"}}],
        )
        with speaking("en"):
            said.append(explain(problem, {"quantity": "quantity"}))
    assert said[0] == said[1]
    assert said[0].fields == {"quantity": "At most 279.5 tonnes can be recorded on this contract."}
    with speaking("nb"):
        norwegian = explain(
            ApiProblem(
                409,
                "More",
                "x",
                [{**base, "message": "x", "params": {"left": "279.5", "unit": "t"}}],
            ),
            {"quantity": "quantity"},
        )
    assert norwegian.fields == {"quantity": "Høyst 279,5 tonn kan registreres på denne kontrakten."}
    unknown = ApiProblem(
        400,
        "Bad",
        "List of Waste",
        [
            {
                "field": "ewc_code",
                "message": "not a code of the List of Waste",
                "code": "listing.brand_new_rule",
                "params": {},
            }
        ],
    )
    with speaking("en"):
        assert explain(unknown, LISTING_FIELDS).fields == {
            "ewc_code": "This value is not accepted."
        }
    source = (REPO / "services" / "portal" / "problems.py").read_text()
    assert "import re" not in source and '["message"]' not in source and ".detail" not in source


def test_the_plan_turns_clicks_into_positions_and_back() -> None:
    latitude, longitude = 59.2512, 11.0298
    x, y = to_point(latitude, longitude)
    assert to_position(x, y) == pytest.approx((latitude, longitude), abs=1e-4)
    assert on_plan(latitude, longitude) and not on_plan(60.0, 11.0)
    assert zone_of(59.2512) == "A" and zone_of(59.2438) == "E"


def test_relayed_events_are_cut_at_blank_lines() -> None:
    lines = ["event: unread", "data: 2", "", ": keep-alive", "", "event: notification", "id: 7"]
    events, rest = parse_events(lines)
    assert [(e.event, e.data) for e in events] == [("unread", ["2"])]
    assert rest == ["event: notification", "id: 7"]
    events, rest = parse_events([*rest, 'data: {"title": "x"}', ""])
    assert events[0].id == "7" and events[0].data == ['{"title": "x"}'] and rest == []


def test_the_picker_finds_codes_by_digits_or_words() -> None:
    assert [c.resource for c in find_waste_codes("03 01 05")] == ["030105"]
    found = find_waste_codes("sawdust")
    assert "030105" in [c.resource for c in found]
    assert all(len(c.resource) == 6 for c in find_waste_codes("03"))
    assert find_waste_codes("  ") == []
    assert any(c.hazardous for c in find_waste_codes("asbestos"))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("gips", "100105"),
        ("gipsen", "170802"),
        ("gibs", "100105"),
        ("slam", "190805"),
        ("slammet", "020101"),
        ("aske", "100102"),
        ("askene", "100101"),
        ("yeast", "020704"),
        ("fish", "020202"),
        ("molasses", "class:food_residue"),
        ("fertiliser", "class:fertiliser"),
        ("fertilizer", "class:fertiliser"),
        ("sagflis", "030105"),
        ("bark", "030101"),
        ("fiskeslo", "020202"),
        ("myse", "020501"),
        ("gjødsel", "020106"),
        ("flis", "030105"),
    ],
)
def test_the_picker_knows_everyday_words_in_both_languages(typed: str, expected: str) -> None:
    """The search found nothing for gips, slam, aske, yeast, fish, molasses or fertiliser."""
    assert expected in [hit.resource for hit in find_waste_codes(typed)]


def test_only_local_paths_are_followed_after_sign_in() -> None:
    assert local_path("/listings/1") == "/listings/1"
    assert local_path("//evil.example/x") == "/"
    assert local_path("https://evil.example") == "/"
    assert local_path(None, "") == ""


def test_a_delivery_form_carries_ticket_carrier_and_a_hazardous_declaration() -> None:
    from services.portal.forms import delivery_body

    base = {"quantity": "2,4", "delivered_on": "2027-01-20"}
    body = delivery_body(
        {
            **base,
            "measurement": "weighbridge",
            "weighbridge_ticket": "HW-7",
            "carrier_name": "Spesialavfall AS",
            "carrier_org_number": "921 300 018",
            "waste_number": "7012",
            "waste_description": "Spent engine oil",
            "properties": "HP5, HP14",
            "un_number": "UN 3082",
        },
        "t",
        hazardous=True,
    )
    assert body["quantity"] == "2.4" and body["weighbridge_ticket"] == "HW-7"
    assert body["carrier"] == {"name": "Spesialavfall AS", "org_number": "921300018"}
    assert body["declaration"] == {
        "waste_number": "7012",
        "description": "Spent engine oil",
        "properties": ["HP5", "HP14"],
        "un_number": "UN 3082",
    }
    with speaking("en"), pytest.raises(FormErrors) as refused:
        delivery_body({**base, "carrier_org_number": "921300018"}, "t", hazardous=True)
    assert {"carrier_name", "waste_number", "waste_description", "properties"} <= set(
        refused.value.fields
    )
    assert "declaration" not in delivery_body(base, "t")


def test_more_than_remains_is_said_at_the_quantity() -> None:
    problem = ApiProblem(
        409,
        "More than the listing has",
        "the offer cannot give 200 t: only 120 t remain",
        [
            {
                "field": "quantity",
                "message": "at most 120 t",
                "code": "negotiation.more_than_remains",
                "params": {"remaining": "120", "unit": "t"},
            }
        ],
        code="negotiation.more_than_remains",
    )
    with speaking("en"):
        errors = explain(problem, {"quantity": "quantity"})
    assert errors.fields == {"quantity": "More than the listing still has: at most 120 tonnes."}
    with speaking("nb"):
        errors = explain(problem, {"quantity": "quantity"})
    assert errors.fields == {"quantity": "Mer enn oppføringen har igjen: høyst 120 tonn."}


def test_a_company_profile_form_becomes_the_change_of_the_company() -> None:
    form = {
        "name": " Tofteberg Teglverk AS ",
        "nace_codes": "23.32, 23.61;16.10",
        "street": "Tofteberg 7",
        "postcode": "1617",
        "city": "Fredrikstad",
        "plot": "C3",
        "latitude": "59,2470",
        "longitude": "11.034",
    }
    body = profile_body(form)
    assert body == {
        "name": "Tofteberg Teglverk AS",
        "nace_codes": ["23.32", "23.61", "16.10"],
        "address": {"street": "Tofteberg 7", "postcode": "1617", "city": "Fredrikstad"},
        "location": {"plot": "C3", "latitude": 59.247, "longitude": 11.034},
    }
    # The company as the API gives it fills the form in again as it was typed.
    shown = profile_values({**body, "org_number": "921300034"})
    assert profile_body(shown) == body
    # The API's refusals land on the form's fields.
    assert PROFILE_FIELDS["location.latitude"] == "latitude"
    assert PROFILE_FIELDS["address.postcode"] == "postcode"


def test_a_profile_without_a_name_or_with_half_an_address_is_refused_at_the_fields() -> None:
    with speaking("nb"), pytest.raises(FormErrors) as refused:
        profile_body({"name": "", "street": "Tofteberg 7", "latitude": "nord", "longitude": "11"})
    assert set(refused.value.fields) == {"name", "postcode", "city", "latitude"}
    assert refused.value.fields["name"] == "Dette feltet må fylles ut."


def test_what_people_wrote_is_marked_not_to_be_translated_and_escaped() -> None:
    """A name or title (``typed``), and the parts of an inbox note that quote what people
    wrote (``quoting``), stand in ``translate="no"``, escaped like any other text."""
    assert typed_text("Ås & <Sønner> AS") == (
        '<span translate="no">Ås &amp; &lt;Sønner&gt; AS</span>'
    )
    assert typed_text(None) == "" and typed_text("") == ""
    note = "Levering bestridt: Sand <2> fra Ås: våt & full av stein."
    assert quoting(note, ["Sand <2> fra Ås", "våt & full av stein", "Sand"]) == (
        'Levering bestridt: <span translate="no">Sand &lt;2&gt; fra Ås</span>: '
        '<span translate="no">våt &amp; full av stein</span>.'
    )
    # a quoted word inside another word is not marked; a note from before marks nothing
    assert quoting("Sandvika <3>", ["Sand"]) == "Sandvika &lt;3&gt;"
    assert quoting("Faktura sendt", []) == "Faktura sendt"
