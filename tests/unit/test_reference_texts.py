"""The reference data the product shows (the List of Waste, the NACE activities, the uses) in
both languages: every row has the team's bokmål beside the English, the loaders refuse a
row without it, the lookups answer in the language asked for, and the picker's search
finds a code by a bokmål word that only its translated description has."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from shared import knowledge
from shared.ewc import EWC_FILE, CatalogueError, catalogue, description, read
from shared.knowledge import KnowledgeError, activity_name, nace, use_names
from shared.vocabulary import find, words

# Names that are the same word in both languages.
SAME_IN_BOTH = {"Aluminium", "Bitumen", "Glass", "Hydrogen"}


def test_every_waste_code_has_its_bokmal_texts() -> None:
    entries = list(catalogue().values())
    assert len(entries) == 842
    for e in entries:
        assert e.description_nb and e.chapter_nb and e.sub_chapter_nb, e.code
        assert e.chapter_nb != e.chapter and e.sub_chapter_nb != e.sub_chapter, e.code
        assert e.description_nb != e.description or e.description in SAME_IN_BOTH, e.code


def test_every_activity_and_use_has_its_bokmal_name() -> None:
    assert len(nace()) == 1783
    for a in nace().values():
        assert a.name_nb and a.name_nb != a.name, a.code
    for u in use_names().values():
        assert u.label_nb, u.use


def test_the_bokmal_uses_the_established_terms() -> None:
    assert catalogue()["100102"].description_nb == "Flyveaske fra kull"
    assert catalogue()["190112"].description_nb.startswith("Bunnaske og slagg med unntak av")
    assert catalogue()["030105"].description_nb == (
        "Sagflis, spon, avskjær, tre, sponplater og finér med unntak av det som er nevnt i 03 01 04"
    )
    assert nace()["16.11"].name_nb == "Saging og høvling av tre"
    assert nace()["46.87"].name_nb == "Engroshandel med avfall og skrap"


def _without(path: Path, column: str, target: Path) -> Path:
    """A copy of a CSV file with one row's ``column`` emptied."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[3][column] = ""
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


@pytest.mark.parametrize("column", ["description_nb", "chapter_nb", "sub_chapter_nb"])
def test_the_list_of_waste_is_refused_with_an_empty_translation(
    tmp_path: Path, column: str
) -> None:
    assert len(read(EWC_FILE)) == 842
    broken = _without(EWC_FILE, column, tmp_path / "ewc-codes.csv")
    with pytest.raises(CatalogueError, match=f"ewc-codes.csv:5: {column} is empty"):
        read(broken)


@pytest.mark.parametrize(
    ("name", "column"), [("nace.csv", "name_nb"), ("use-names.csv", "label_nb")]
)
def test_the_activities_and_uses_are_refused_with_an_empty_translation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, column: str
) -> None:
    for shipped in knowledge.DATA.glob("*.csv"):
        (tmp_path / shipped.name).write_bytes(shipped.read_bytes())
    _without(knowledge.DATA / name, column, tmp_path / name)
    monkeypatch.setattr(knowledge, "DATA", tmp_path)
    loader = nace if name == "nace.csv" else use_names
    with pytest.raises(KnowledgeError, match=f"{name}:5: {column} is empty"):
        loader.__wrapped__()


def test_lookups_answer_in_the_language_asked_for() -> None:
    assert description("100102", "nb") == "Flyveaske fra kull"
    assert description("10 01 02", "en") == "Coal fly ash"
    assert description("class:ash", "nb") == "class:ash"  # not a code: as it is
    assert activity_name("23.51", "nb") == "Produksjon av sement"
    assert activity_name("23.51", "en") == "Manufacture of cement"
    assert activity_name("99.99", "nb") == "99.99"


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("glødeskall", "100210"),  # mill scales
        ("avgangsmasser", "010306"),  # tailings
        ("kjelestøv", "100104"),  # oil fly ash and boiler dust
        ("sigevann", "190703"),  # landfill leachate
    ],
)
def test_the_picker_finds_a_code_by_its_bokmal_description(typed: str, code: str) -> None:
    assert not any(typed in w for w in words()), "must be found through the translation alone"
    hits = {h.resource: h for h in find(typed)}
    assert code in hits
    assert hits[code].label_nb == catalogue()[code].description_nb
    assert hits[code].label == catalogue()[code].description


def test_every_basis_source_and_treatment_people_read_has_its_bokmal() -> None:
    assert knowledge.untranslated_prose() == []


def test_a_basis_reads_in_bokmal_with_the_list_of_wastes_own_words() -> None:
    basis = knowledge.flows_of("16.11")[0].basis
    assert basis.startswith("List of Waste sub-chapter 03 01")
    assert knowledge.prose(basis, "en") == basis
    assert knowledge.prose(basis, "nb") == (
        "Avfallslistens underkapittel 03 01 (Avfall fra treforedling og fra produksjon av "
        "plater og møbler): avfallet fra denne virksomheten"
    )
    assert knowledge.prose("dewatering", "nb") == "avvanning"


def test_prose_is_refused_without_its_bokmal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for shipped in knowledge.DATA.glob("*.csv"):
        (tmp_path / shipped.name).write_bytes(shipped.read_bytes())
    _without(knowledge.DATA / "prose-nb.csv", "text_nb", tmp_path / "prose-nb.csv")
    monkeypatch.setattr(knowledge, "DATA", tmp_path)
    with pytest.raises(KnowledgeError, match=r"prose-nb\.csv:5: text and text_nb are both needed"):
        knowledge.prose_nb.__wrapped__()


@pytest.mark.parametrize(
    ("code", "params"),
    [
        (
            "resource.use",
            {
                "offer": "100102",
                "use": "cement_addition",
                "permit": True,
                "treatment": "conformity with EN 450-1",
                "basis_kind": "standard",
                "source": "EN 450-1:2012 Fly ash for concrete (coal fly ash, and co-combustion "
                "fly ash within its limits)",
            },
        ),
        (
            "resource.member",
            {
                "code": "100102",
                "resource_class": "class:ash",
                "basis": "List of Waste 10 01 02 (Coal fly ash); BAT Reference Document for "
                "Large Combustion Plants (JRC, 2017): FGD gypsum to plasterboard and cement, fly "
                "ash to cement and concrete, bottom ash to construction",
            },
        ),
    ],
)
def test_a_matchers_reason_from_the_knowledge_base_reads_in_bokmal(
    code: str, params: dict[str, object]
) -> None:
    from shared import reasons

    nb = reasons.render(code, params, "nb")
    en = reasons.render(code, params, "en")
    for english in ("conformity with", "Fly ash for concrete", "Coal fly ash", "plasterboard"):
        assert english not in nb, nb
    assert "Flyveaske" in nb or "flyveaske" in nb, nb
    assert ("Coal fly ash" in en) == (code == "resource.member"), en


def test_the_dashboard_names_a_code_in_the_pages_language() -> None:
    from services.portal.dashboard import resource_name
    from services.portal.i18n import speaking

    with speaking("nb"):
        assert resource_name("100102") == "10 01 02 Flyveaske fra kull"
        assert resource_name("030105", short=True) == "03 01 05 Sagflis"
    with speaking("en"):
        assert resource_name("100102") == "10 01 02 Coal fly ash"


def test_a_delivery_note_names_the_resource_in_the_buyers_language() -> None:
    import uuid
    from datetime import UTC, datetime
    from decimal import Decimal

    from services.contracts.documents import resource_name
    from services.contracts.domain.contract import Contract

    some = uuid.uuid4()
    contract = Contract(
        id=some,
        negotiation_id=some,
        terms_id=some,
        offer_id=some,
        need_id=some,
        supplier_company_id=some,
        receiver_company_id=some,
        title="Aske fra kjel 2",
        ewc_code="100102",
        resource_class=None,
        quantity=Decimal(10),
        unit="t",
        price_per_unit_ore=100,
        delivery_from=None,
        delivery_until=None,
        transport="receiver",
        schedule="once",
        value=None,
        status="active",
        status_reason=None,
        agreed_at=datetime.now(UTC),
        ended_at=None,
    )
    assert resource_name(contract, "nb") == "Aske fra kjel 2 (Flyveaske fra kull)"
    assert resource_name(contract, "en") == "Aske fra kjel 2 (Coal fly ash)"


def test_every_resource_class_and_property_has_its_bokmal_name() -> None:
    from shared.resources import RESOURCE_CLASSES

    for name, kind in RESOURCE_CLASSES.items():
        assert kind.label_nb and (kind.label_nb != kind.label or kind.label in SAME_IN_BOTH), name
        for prop in kind.properties:
            assert prop.label_nb, (name, prop.name)
