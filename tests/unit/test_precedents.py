"""Uncovering ranks first the kinds of company that have taken a resource in documented
exchanges elsewhere (``shared/data/precedents.csv``), and the loader keeps every
precedent sourced."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import knowledge, uncovering

REFINERY = "19.20"


def test_a_refinery_comes_first_for_steam_from_the_places_it_took_steam() -> None:
    """Three parks document a refinery taking steam (Guayama, Kalundborg, Kwinana). By the
    uses alone, steam's first suggestions were greenhouses and poultry farms (space heating
    has three takers, process steam eighteen)."""
    first = uncovering.receivers("class:steam")[0]
    assert first.nace == REFINERY
    assert set(first.precedents) == {
        "Guayama, Puerto Rico",
        "Kalundborg, Denmark",
        "Kwinana, Australia",
    }
    assert "process_steam" in first.uses
    assert len(first.basis) >= 3  # each precedent's source, then the uses' rows


def test_a_left_out_source_is_no_precedent() -> None:
    sources = {p.source for p in knowledge.precedents() if p.receiver_nace == REFINERY}
    found = uncovering.receivers("class:steam", top=50, leave_out=sources)
    refinery = next(a for a in found if a.nace == REFINERY)
    assert refinery.precedents == ()
    assert found[0].nace != REFINERY


def test_a_waste_code_inherits_the_precedents_of_its_class() -> None:
    """Beet pulp was listed as the food-residue class at Wissington and went to cattle
    farms; a dairy's whey (02 05 01, a member of the class) has that precedent too."""
    assert "class:food_residue" in knowledge.classes_of_code()["020501"]
    found = {a.nace: a for a in uncovering.receivers("020501", top=50)}
    assert "Wissington, United Kingdom" in found["01.41"].precedents


def test_every_precedent_is_sourced_and_placed_in_both_languages() -> None:
    found = knowledge.precedents()
    assert len(found) >= 50
    for precedent in found:
        assert precedent.source and precedent.place and precedent.place_nb


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    for name in knowledge.DATA.iterdir():
        if name.suffix == ".csv":
            shutil.copy(name, tmp_path / name.name)
    original = knowledge.DATA
    knowledge.DATA = tmp_path
    knowledge.precedents.cache_clear()
    yield tmp_path
    knowledge.DATA = original
    knowledge.precedents.cache_clear()


@pytest.mark.parametrize(
    ("row", "refusal"),
    [
        ('class:steam,19.20,,"Mongstad, Norway","Mongstad, Norge",\n', "needs its source"),
        ("class:steam,19.20,,,,Somebody (2020) A report\n", "needs its place"),
        ('class:steam,99.99,,"Mongstad, Norway","Mongstad, Norge",X\n', "not in the NACE list"),
        ('class:plasma,19.20,,"Mongstad, Norway","Mongstad, Norge",X\n', "unknown resource"),
        ('class:steam,19.20,levitation,"Mongstad, Norway","Mongstad, Norge",X\n', "unknown use"),
    ],
)
def test_the_loader_refuses_a_precedent_it_cannot_stand_on(
    data: Path, row: str, refusal: str
) -> None:
    with (data / "precedents.csv").open("a") as handle:
        handle.write(row)
    with pytest.raises(knowledge.KnowledgeError, match=rf"precedents.csv:\d+: .*{refusal}"):
        knowledge.precedents()


def _synergy(supplier_nace: str, receiver_nace: str) -> uncovering.Synergy | None:
    supplier = uncovering.Company("s", "Supplier", (supplier_nace,), 59.2, 10.9)
    receiver = uncovering.Company("r", "Receiver", (receiver_nace,), 59.2, 10.9)
    found = uncovering.latent_synergies([supplier, receiver], limit=10)
    return next((s for s in found if s.supplier.id == "s"), None)


def test_a_latent_synergy_names_its_precedents_and_ranks_by_them() -> None:
    """A waste incinerator (38.22: steam) and a refinery: refineries took steam at three
    documented places, which the synergy names and counts."""
    found = _synergy("38.22", REFINERY)
    assert found is not None and found.links
    assert {p.place for p in found.precedents} >= {"Kalundborg, Denmark", "Kwinana, Australia"}
    without = len(found.links) + 1.0  # the links and the nearness of two neighbours
    assert found.score == pytest.approx(without + uncovering.PRECEDENT * 3, abs=1e-4)


def test_a_precedent_alone_makes_a_latent_synergy() -> None:
    """Nothing in the use graph says a hospital takes heat, but the Mo i Rana hospital takes
    the district heat made from Elkem's furnace gas: a power plant's heat (35.11) and a
    hospital are a latent synergy, on that precedent alone."""
    found = _synergy("35.11", "86.10")
    assert found is not None and found.links == ()
    assert [p.place for p in found.precedents] == ["Mo i Rana, Norway"]
    assert _synergy("35.11", "47.11") is None  # a supermarket: neither a link nor a precedent
