"""Every kind of reason the matcher writes reads in bokmål and in English (in the portal
and in notifications): the proposals here give each kind at least once, so a new kind of
sentence in the matcher fails this test until ``shared.reasons`` knows it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from services.matching.domain import OpenListing, Proposal, planned, propose
from services.portal.i18n import speaking
from services.portal.reasons import in_words as on_the_page
from shared.reasons import Bilingual, in_words, known

SAWMILL, BOILER = uuid.uuid4(), uuid.uuid4()


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
        # a resource class
        propose(paper("offer", SAWMILL, None, "350"), paper("need", BOILER, None, "200")),
        # a hazardous code
        propose(paper("offer", SAWMILL, "190813", "10"), paper("need", BOILER, "190813", "5")),
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


REASONS = sorted({reason for proposal in proposals() for reason in proposal.reasons})


def test_the_samples_give_every_kind_of_reason() -> None:
    starts = {
        "same List of Waste code",
        "same resource class",
        "serves a need for",
        "is hazardous",
        "the offer of",
        "meets the need's",
        "the sites are",
        "prices leave",
        "prices are",
        "avoids about",
        "part of the park-wide plan",
        "the blend of the plan's",
    }
    assert all(any(start in reason for reason in REASONS) for start in starts), REASONS


@pytest.mark.parametrize("reason", REASONS)
def test_each_reason_reads_in_both_languages(reason: str) -> None:
    assert known(reason), f"this kind of reason is not known: {reason!r}"
    said = in_words(reason)
    assert "{" not in said.nb and "{" not in said.en
    assert said.nb != said.en, reason
    if "serves a need for" in reason:
        # what the knowledge base says of the use and its source stays as written there
        assert "dekker et behov for" in said.nb
    else:
        english_words = ("the", "of", "needed", "apart", "and", "most", "least")
        assert not any(word in said.nb.split() for word in english_words), said.nb
    with speaking("nb"):
        assert on_the_page(reason) == said.nb
    with speaking("en"):
        assert on_the_page(reason) == said.en


def test_codes_and_classes_read_as_people_write_them() -> None:
    assert in_words("same List of Waste code 030105").nb == "samme kode i avfallslisten: 03 01 05"
    assert in_words("same resource class heat") == Bilingual(
        "samme slags ressurs: Varme (varmt vann eller luft)",
        "the same kind of resource: Heat (hot water or air)",
    )


def test_an_unknown_reason_is_shown_as_written() -> None:
    assert in_words("a reason of a new kind") == Bilingual(*("a reason of a new kind",) * 2)


def test_numbers_read_as_each_language_writes_them() -> None:
    said = in_words("avoids about 2,811 kg CO2e (disp.any.efw), 2,795.5 kg net of road transport")
    assert said.nb.startswith(
        "unngår omtrent 2\u00a0811 kg CO2e (kilde: DESNZ 2025), 2\u00a0795,5 kg"
    )
    assert said.en.startswith("avoids about 2,811 kg CO2e (source: DESNZ 2025), 2,795.5 kg")
    assert in_words("the sites are 0.2 km apart").nb == "stedene ligger 0,2 km fra hverandre"
    assert in_words("the offer of 12.5 t covers 10 t of the 10 t needed").nb.startswith(
        "tilbudet på 12,5 t dekker 10 t"
    )
