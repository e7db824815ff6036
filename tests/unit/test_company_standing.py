"""The park office's rules for a company's standing (services/listings/standing.py)."""

from __future__ import annotations

import pytest

from services.listings.standing import (
    STATUSES,
    CompanyStatus,
    StandingAction,
    may_trade,
    suspension_reason,
    transition,
)
from shared.refusals import Refusal

ALLOWED: dict[tuple[CompanyStatus, StandingAction], CompanyStatus] = {
    ("registered", "verify"): "verified",
    ("registered", "suspend"): "suspended",
    ("verified", "suspend"): "suspended",
    ("suspended", "reinstate"): "registered",
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ["verify", "suspend", "reinstate"])
def test_each_action_applies_only_where_it_makes_sense(
    status: CompanyStatus, action: StandingAction
) -> None:
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(Refusal) as refused:
            transition(status, action)
        assert refused.value.code == "company.transition_impossible"
        assert refused.value.params == {"status": status, "action": action}
    else:
        assert transition(status, action) == expected


def test_reinstating_returns_a_verified_company_to_verified() -> None:
    assert transition("suspended", "reinstate", was_verified=True) == "verified"
    assert transition("suspended", "reinstate", was_verified=False) == "registered"


def test_a_suspension_needs_a_reason_of_sensible_length() -> None:
    assert suspension_reason("  Ubetalt leie  ") == "Ubetalt leie"
    for bad in (None, "", "   ", "x" * 501):
        with pytest.raises(Refusal) as refused:
            suspension_reason(bad)
        assert refused.value.field == "reason"


def test_only_a_suspended_company_may_not_trade() -> None:
    assert may_trade("registered") and may_trade("verified")
    assert not may_trade("suspended")
