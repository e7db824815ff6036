"""A refusal carries a code and parameters beside its sentence (shared/refusals.py), for
pydantic's own checks and for the domain's rules alike, so that no client parses English."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, post
from litestar.testing import TestClient

from services.contracts.domain.refusals import Refused
from services.contracts.problems import REFUSALS
from services.listings.accounts import CompanyRegistration
from services.listings.api import ListingDraft
from shared.http import EXCEPTION_HANDLERS


@post("/listings")
async def post_listing(data: ListingDraft) -> None:
    """A listing as the listings service reads one."""


@post("/companies")
async def post_company(data: CompanyRegistration) -> None:
    """A registration as the listings service reads one."""


@post("/deliveries")
async def post_delivery() -> None:
    raise Refused(
        "conflict",
        "More than the contract allows",
        "the contract is for 300 t; 20.5 t are delivered or awaiting confirmation, so at most "
        "279.5 t can be recorded",
        field="quantity",
        message="more than the contract allows",
        code="delivery.more_than_left",
        left=__import__("decimal").Decimal("279.500"),
        unit="t",
    )


def _errors(path: str, body: dict[str, Any]) -> dict[str, Any]:
    app = Litestar(
        [post_listing, post_company, post_delivery],
        exception_handlers={**EXCEPTION_HANDLERS, **REFUSALS},
    )
    with TestClient(app) as client:
        answer = client.post(path, json=body)
    assert answer.headers["content-type"].startswith("application/problem+json")
    result: dict[str, Any] = answer.json()
    result["_status"] = answer.status_code
    return result


LISTING = {"kind": "offer", "title": "Dry sawdust", "quantity": "10", "unit": "t"}


def test_an_unknown_waste_code_has_its_code_and_value() -> None:
    problem = _errors("/listings", {**LISTING, "ewc_code": "99 99 99"})
    assert problem["_status"] == 400
    [error] = problem["errors"]
    assert error["field"] == "ewc_code" and error["code"] == "listing.ewc_code_unknown"
    assert error["params"] == {"value": "99 99 99"}
    assert "List of Waste" in error["message"]  # the sentence stays, for developers


def test_pydantic_checks_are_coded_with_their_context() -> None:
    problem = _errors("/listings", {**LISTING, "ewc_code": "030105", "quantity": "-3"})
    [error] = problem["errors"]
    assert (error["field"], error["code"]) == ("quantity", "value.greater_than")
    missing = _errors("/listings", {"kind": "offer", "unit": "t", "ewc_code": "030105"})
    assert {(e["field"], e["code"]) for e in missing["errors"]} == {
        ("title", "value.missing"),
        ("quantity", "value.missing"),
    }


def test_a_rule_across_fields_names_its_field() -> None:
    """A model-level rule (hazardous not confirmed) is coded and names the field at fault,
    where pydantic alone would name no field."""
    problem = _errors("/listings", {**LISTING, "ewc_code": "130205"})
    [error] = problem["errors"]
    assert error["field"] == "hazardous"
    assert error["code"] == "listing.hazardous_unconfirmed"
    assert error["params"] == {"waste_code": "13 02 05*"}
    unit = _errors("/listings", {**LISTING, "resource_class": "heat", "unit": "t"})
    assert unit["errors"][0]["code"] == "listing.unit_not_for_resource"
    assert unit["errors"][0]["params"]["units"] == ["MWh", "kWh"]


def test_an_organisation_number_is_refused_with_its_code() -> None:
    problem = _errors("/companies", {"name": "Feil AS", "org_number": "123456789"})
    [error] = problem["errors"]
    assert (error["field"], error["code"]) == ("org_number", "company.org_number_invalid")


def test_a_domain_refusal_carries_its_code_and_numbers() -> None:
    problem = _errors("/deliveries", {})
    assert problem["_status"] == 409 and problem["code"] == "delivery.more_than_left"
    assert problem["params"] == {"left": "279.5", "unit": "t"}
    assert problem["errors"] == [
        {
            "field": "quantity",
            "message": "more than the contract allows",
            "code": "delivery.more_than_left",
            "params": {"left": "279.5", "unit": "t"},
        }
    ]
