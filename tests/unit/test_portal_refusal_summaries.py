"""A refusal with no field at fault is said with its parameters: a suspended company's
people read the reason the park gave, in their language."""

from __future__ import annotations

from services.portal.client import ApiProblem
from services.portal.i18n import speaking
from services.portal.problems import explain


def test_a_suspended_company_is_told_why_in_its_language() -> None:
    problem = ApiProblem(
        403,
        "Company suspended",
        code="company.suspended",
        params={"reason": "Ubetalt leie siden mars"},
    )
    with speaking("nb"):
        said = explain(problem).summary
    assert said.startswith("Parkkontoret har suspendert bedriften deres")
    assert said.endswith("Ubetalt leie siden mars")
    with speaking("en"):
        said = explain(problem).summary
    assert said.startswith("The park office has suspended your company")
    assert "%(" not in said


def test_a_summary_with_a_number_has_it_filled_in() -> None:
    problem = ApiProblem(409, "Too many", code="webhook.too_many", params={"max_endpoints": 10})
    with speaking("en"):
        assert "(10)" in explain(problem).summary
