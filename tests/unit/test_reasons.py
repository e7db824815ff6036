"""Every reason the matcher gives is a code with parameters, and reads in bokmål and in
English (in the portal and in notifications) from the catalogue: the proposals here give
each kind at least once, so a new code in the matcher fails this test until
``shared.reasons`` has its words. No sentence is parsed anywhere."""

from __future__ import annotations

import ast
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.listings.rules import refusal
from services.matching.domain import OpenListing, Proposal, checks, planned, propose
from services.portal.i18n import speaking
from services.portal.reasons import in_words as on_the_page
from shared.events import ReasonDetail, Terms
from shared.reasons import CATALOGUE, Bilingual, in_words, known, render
from tests.unit.test_listing_rules import contract, listing

SAWMILL, BOILER = uuid.uuid4(), uuid.uuid4()
REPO = Path(__file__).resolve().parents[2]


def paper(
    kind: str, company: uuid.UUID, code: str | None, quantity: str, **more: object
) -> OpenListing:
    listing = OpenListing(
        uuid.uuid4(),
        company,
        kind,
        code,
        None if code else "heat",
        "Sawdust",
        Decimal(quantity),
        "MWh" if code is None else "t",
        latitude=59.2467,
        longitude=11.0254 if company == SAWMILL else 11.0290,
    )
    return replace(listing, **more)  # type: ignore[arg-type]


def proposals() -> list[Proposal]:
    dry = ({"property": "moisture", "unit": "%", "value": 12},)
    bounded = ({"property": "moisture", "unit": "%", "min": 5, "max": 40},)
    limit = ({"property": "moisture", "unit": "%", "min": 2, "max": 45},)
    hot = ({"property": "temperature_c", "unit": "°C", "value": 60},)
    made = [
        # same code, a quality, distance, prices that leave a surplus, CO2e
        propose(
            paper("offer", SAWMILL, "030105", "520", quality=dry, price_per_unit_ore=12000),
            paper("need", BOILER, "030105", "400", quality=limit, price_per_unit_ore=25000),
        ),
        # a substitute from the knowledge base, a stated range, prices apart
        propose(
            paper("offer", SAWMILL, "030101", "900", quality=bounded, price_per_unit_ore=30000),
            paper("need", BOILER, "030105", "600", quality=limit, price_per_unit_ore=15000),
        ),
        # a resource class, moved by pipe
        propose(
            paper("offer", SAWMILL, None, "350", quality=hot),
            paper("need", BOILER, None, "200"),
        ),
        # a hazardous code
        propose(paper("offer", SAWMILL, "190813", "10"), paper("need", BOILER, "190813", "5")),
        # a need that names a use; a permit and a treatment step
        propose(
            paper("offer", SAWMILL, "100102", "800"),
            paper(
                "need", BOILER, None, "500", resource_class=None, use="cement_addition", unit="t"
            ),
        ),
        # a need that accepts another resource by name
        propose(
            paper("offer", SAWMILL, "030101", "10"),
            paper("need", BOILER, "170405", "5", accepts=("030101",)),
        ),
        # a code of the need's class
        propose(
            paper("offer", SAWMILL, "100105", "10"),
            paper("need", BOILER, None, "5", resource_class="gypsum", unit="t"),
        ),
        # steam offered in tonnes for a need in MWh
        propose(
            paper(
                "offer",
                SAWMILL,
                None,
                "100",
                resource_class="steam",
                unit="t",
                quality=(
                    {"property": "pressure_bar", "unit": "bar", "value": 10},
                    {"property": "temperature_c", "unit": "°C", "value": 250},
                ),
            ),
            paper("need", BOILER, None, "20", resource_class="steam"),
        ),
        # seawater replaces no mains water
        propose(
            paper("offer", SAWMILL, None, "10", resource_class="seawater", unit="m3"),
            paper("need", BOILER, None, "5", resource_class="seawater", unit="m3"),
        ),
    ]
    offer = paper("offer", SAWMILL, "030105", "520", quality=dry, price_per_unit_ore=12000)
    wet_need = paper(
        "need", BOILER, "030105", "400", quality=({"property": "moisture", "unit": "%", "max": 5},)
    )
    made.append(planned(offer, wet_need, Decimal(300), uuid.uuid4(), sources=2))
    made.append(
        planned(offer, paper("need", BOILER, "030105", "300"), Decimal(300), uuid.uuid4(), 1)
    )
    assert all(p is not None for p in made)
    return [p for p in made if p is not None]


def failing() -> list[ReasonDetail]:
    """The reasons of the rules that fail, as the explain endpoint shows them."""
    company = uuid.uuid4()
    offer = paper(
        "offer",
        company,
        "170405",
        "5",
        unit="m3",
        latitude=60.39,
        longitude=5.32,
        available_from=__import__("datetime").date(2021, 1, 1),
    )
    need = paper(
        "need",
        company,
        "030105",
        "5",
        quality=({"property": "moisture", "unit": "%", "max": 45},),
        available_until=__import__("datetime").date(2020, 1, 1),
    )
    found = [c.reason for c in checks(offer, need) if not c.holds]
    wet = paper(
        "offer",
        SAWMILL,
        "030105",
        "5",
        quality=({"property": "moisture", "unit": "%", "value": 60},),
    )
    found += [c.reason for c in checks(wet, need) if c.rule.startswith("quality")]
    catering = paper("offer", SAWMILL, "200108", "5")
    feed = paper("need", BOILER, None, "5", resource_class=None, use="animal_feed", unit="t")
    found += [c.reason for c in checks(catering, feed) if c.rule == "resource"]
    hazardous = paper("offer", SAWMILL, "190813", "5")
    found += [c.reason for c in checks(hazardous, paper("need", BOILER, "190814", "5"))]
    found += [c.reason for c in checks(hazardous, need, permits={}) if c.rule == "permit"]
    found += [
        c.reason
        for c in checks(hazardous, need, permits={need.company_id: frozenset({"190813"})})
        if c.rule == "permit"
    ]
    return found


def details() -> list[ReasonDetail]:
    return (
        [d for p in proposals() for d in p.details]
        + failing()
        + [
            ReasonDetail(code="companies.different"),
            ReasonDetail(code="window.overlap"),
            ReasonDetail(code="retract.withdrawn"),
            ReasonDetail(code="retract.reserved"),
            ReasonDetail(code="retract.no_fit", params={"title": "Sawdust"}),
            ReasonDetail(code="retract.outranked", params={"title": "Sawdust"}),
            ReasonDetail(code="retract.plan_changed", params={"title": "Sawdust"}),
            ReasonDetail(code="retract.expired", params={"days": 30}),
            ReasonDetail(code="retract.superseded", params={"plan": str(uuid.uuid4())}),
        ]
        + listing_refusals()
        + [
            ReasonDetail(code="contract.completed"),
            ReasonDetail(
                code="contract.reservation_refused",
                params={"refusal": listing_refusals()[-1].model_dump()},
            ),
            ReasonDetail(code="contract.cancelled_by_party"),
            ReasonDetail(code="contract.reopened_by_dispute"),
            ReasonDetail(code="credit_note.delivery_disputed"),
            ReasonDetail(code="credit_note.voided_at_stripe"),
        ]
    )


def listing_refusals() -> list[ReasonDetail]:
    """Why the listings could not reserve a contract, as the listings service says it."""
    found = [
        refusal(contract("1"), None, None, {}),
        refusal(contract("1"), listing(status="withdrawn"), Decimal(1), {}),
        refusal(contract("1", "MWh"), listing(), None, {}),
        refusal(
            contract("8", terms=MONTHLY),
            listing(frequency="monthly", quantity=Decimal(10)),
            Decimal(8),
            {date(2027, 1, 1): Decimal(9)},
        ),
        refusal(contract("40"), listing(), Decimal("40.5"), {date.min: Decimal(70)}),
    ]
    return [ReasonDetail(code=r.code, params=r.params) for r in found if r is not None]


MONTHLY = Terms(
    quantity=Decimal(8),
    unit="t",
    price_per_unit_ore=0,
    delivery_from=date(2027, 1, 4),
    delivery_until=date(2027, 3, 31),
    schedule="monthly",
)


def test_a_contracts_reason_names_the_listings_own_refusal() -> None:
    too_little = ReasonDetail(
        code="contract.reservation_refused",
        params={"refusal": listing_refusals()[-1].model_dump()},
    )
    said = in_words(too_little.code, too_little.params)
    assert said.nb == (
        "oppføringene kunne ikke reservere den: kontrakten trenger 40,5 t, men bare 30 t er igjen"
    )
    assert (
        said.en
        == "the listings could not reserve it: the contract needs 40.5 t, but only 30 t remain"
    )
    # from a listings service older than the codes: the exchange's part alone
    assert render("contract.reservation_refused", {}, "nb") == (
        "oppføringene kunne ikke reservere den"
    )
    in_a_period = in_words(listing_refusals()[3].code, listing_refusals()[3].params)
    assert in_a_period.nb.endswith("i perioden fra 1. januar 2027: bare 1 t er igjen")


DETAILS = details()


def test_the_samples_give_every_code_of_the_catalogue() -> None:
    assert {d.code for d in DETAILS} == set(CATALOGUE)


@pytest.mark.parametrize("detail", DETAILS, ids=lambda d: d.code)
def test_each_reason_reads_in_both_languages(detail: ReasonDetail) -> None:
    assert known(detail.code)
    said = in_words(detail.code, detail.params)
    assert "{" not in said.nb and "{" not in said.en
    assert said.nb != said.en, detail
    english = ("the", "of", "needed", "apart", "and", "most", "least", "offer", "need")
    if detail.code not in (
        "resource.substitute",
        "resource.use",
        "resource.member",
        "resource.forbidden",
    ):
        # (what the knowledge base says of a rule's source stays as written there)
        assert not any(word in said.nb.split() for word in english), said.nb
    with speaking("nb"):
        assert on_the_page(detail.model_dump()) == said.nb
    with speaking("en"):
        assert on_the_page(detail.model_dump()) == said.en


def test_the_english_sentence_beside_each_reason_is_rendered_from_its_code() -> None:
    for proposal in proposals():
        assert len(proposal.reasons) == len(proposal.details)
        for sentence, detail in zip(proposal.reasons, proposal.details, strict=True):
            assert sentence == render(detail.code, detail.params, "en")


def test_codes_and_classes_read_as_people_write_them() -> None:
    assert in_words("resource.same_code", {"code": "030105"}).nb == (
        "samme kode i avfallslisten: 03 01 05"
    )
    assert in_words("resource.same_class", {"resource": "class:heat"}) == Bilingual(
        "samme slags ressurs: Varme (varmt vann eller luft)",
        "the same kind of resource: Heat (hot water or air)",
    )


def test_quality_properties_and_their_units_read_in_words() -> None:
    limit = {"property": "moisture", "unit": "%", "stated_min": 12, "stated_max": 12, "max": 45}
    assert in_words("quality.within_limit", limit) == Bilingual(
        "fuktighet 12 % holder seg innenfor behovets grense på høyst 45 %",
        "moisture 12 % meets the need's limit of at most 45 %",
    )
    months = {"property": "months_available", "unit": "months", "min": 6}
    assert in_words("quality.unstated", months) == Bilingual(
        "tilbudet oppgir ikke måneder tilgjengelig i året i måneder; "
        "behovet krever minst 6 måneder",
        "the offer states no months available a year in months; the need wants at least 6 months",
    )
    # a listing's own property from before properties were chosen reads as it is stored
    older = {**limit, "property": "moisture_lc"}
    assert in_words("quality.within_limit", older).nb.startswith("moisture_lc 12 %")


def test_an_unknown_code_reads_as_its_code() -> None:
    assert in_words("a.new.code", {}) == Bilingual("a.new.code", "a.new.code")


def test_numbers_read_as_each_language_writes_them() -> None:
    said = in_words("co2e.avoided", {"kg": 2811, "factors": ["disp.any.efw"], "net_kg": 2795.5})
    assert said.nb.startswith("unngår omtrent 2\u00a0811 kg CO2e (kilde: DESNZ 2025), 2\u00a0796")
    assert said.en.startswith("avoids about 2,811 kg CO2e (source: DESNZ 2025), 2,796")
    assert in_words("distance.within", {"km": 0.2}).nb == "stedene ligger 0,2 km fra hverandre"
    covers = {"offered": 12.5, "offered_unit": "t", "covered": 10, "needed": 10, "unit": "t"}
    assert in_words("quantity.covers", covers).nb.startswith("tilbudet på 12,5 t dekker 10 t")


def test_a_use_rule_says_its_source_permit_and_treatment() -> None:
    fly_ash = next(p for p in proposals() if p.offer.ewc_code == "100102")
    rule = fly_ash.details[0]
    assert rule.code == "resource.use" and rule.params["use"] == "cement_addition"
    assert rule.params["permit"] is True and "EN 450-1" in rule.params["treatment"]
    said = in_words(rule.code, rule.params)
    assert "tilsetning i sement eller betong" in said.nb and "tillatelse" in said.nb
    assert "EN 450-1" in said.en and "needs a permit" in said.en


def test_no_module_parses_a_sentence_with_a_regular_expression() -> None:
    """The regular expressions that read the matcher's English sentences are gone."""
    for path in (REPO / "shared" / "reasons.py", REPO / "services" / "portal" / "reasons.py"):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert "re" not in imported, path


def test_every_code_is_documented_for_partners() -> None:
    documented = (REPO / "docs" / "reasons.md").read_text()
    assert all(f"`{code}`" in documented for code in CATALOGUE)
