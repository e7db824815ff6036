"""The NACE picker of the sign-up and profile forms: activities of the shipped list found
by code or words; without script the form is the plain field of codes it was."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from services.portal.app import create_app
from services.portal.nace import chosen_activities, find_activities, split_codes
from shared.knowledge import nace


def test_activities_are_found_by_the_beginning_of_their_code() -> None:
    for typed in ("16.1", "161", " 16.1 "):
        codes = [a.code for a in find_activities(typed)]
        assert codes[:3] == ["16.1", "16.11", "16.110"], typed
        assert all(c.replace(".", "").startswith("161") for c in codes)


def test_activities_are_found_by_words_of_their_name() -> None:
    found = find_activities("Sawmilling planing")
    assert "16.11" in [a.code for a in found]
    assert all("sawmilling" in a.name.casefold() for a in found)
    assert [a.code for a in find_activities("steam air conditioning")][:2] == ["35", "35.3"]


def test_only_codes_a_company_may_give_are_offered() -> None:
    """The list's section letters (C, D) are not codes the listings service takes."""
    everything = find_activities("manufacture", limit=10_000)
    assert everything and all(re.fullmatch(r"\d{2}(\.\d{1,3})?", a.code) for a in everything)
    assert all(a.code in nace() for a in everything)
    assert find_activities("") == [] and find_activities("zzqx") == []
    assert len(find_activities("1")) == 15


def test_the_codes_given_are_shown_with_their_names() -> None:
    chosen = chosen_activities(split_codes("16.11, 35.30;99.99"))
    assert [(a.code, bool(a.name)) for a in chosen] == [
        ("16.11", True),
        ("35.30", True),
        ("99.99", False),
    ]


def test_the_picker_answers_everyone_with_choices_that_add_a_code() -> None:
    with TestClient(create_app()) as client:
        answer = client.get("/nace-codes", params={"q": "sawmilling"})
        none = client.get("/nace-codes", params={"q": "zzqx"}, headers={"accept-language": "nb"})
    assert answer.status_code == 200
    assert 'data-nace="16.11"' in answer.text
    assert "<html" not in answer.text  # a fragment for htmx
    assert "Ingen virksomhet passer til «zzqx»." in none.text


def test_without_script_the_sign_up_form_has_the_plain_field_and_the_picker_stays_hidden() -> None:
    with TestClient(create_app()) as client:
        page = client.get("/sign-up", headers={"accept-language": "en"}).text
    assert re.search(r'<input id="nace_codes" name="nace_codes" type="text"', page)
    picker = re.search(r'<div class="field picker" id="nace-picker"[^>]*>', page)
    assert picker and "hidden" in picker[0] and "data-needs-script" in picker[0]
    assert 'hx-get="/nace-codes"' in page


def test_the_picker_names_activities_in_the_pages_language_and_finds_them_by_its_words() -> None:
    found = find_activities("høvling", "nb")
    assert "16.11" in [a.code for a in found]
    assert next(a for a in found if a.code == "16.11").name == "Saging og høvling av tre"
    # English words find the same activity on a bokmål page, named in bokmål
    english = {a.code: a.name for a in find_activities("sawmilling", "nb")}
    assert english["16.11"] == "Saging og høvling av tre"
    assert next(a.name for a in find_activities("16.11", "en")) == "Sawmilling and planing of wood"
    (chosen,) = chosen_activities(["16.11"], "nb")
    assert chosen.name == "Saging og høvling av tre"
