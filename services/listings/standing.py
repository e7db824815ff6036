"""A company's standing with the park office: registered, verified by it, or suspended
(with a reason) and reinstated. Pure rules, no I/O.

Suspension stops new trade, not the obligations already agreed: the company's people and
API keys still sign in and read (its contracts, deliveries and invoices go on, and they
see why it is suspended), but it cannot post, publish or change listings, and its open
listings are taken off the matcher until the park reinstates it.
"""

from __future__ import annotations

from typing import Literal

from shared.refusals import Refusal

CompanyStatus = Literal["registered", "verified", "suspended"]
StandingAction = Literal["verify", "suspend", "reinstate"]
STATUSES: tuple[CompanyStatus, ...] = ("registered", "verified", "suspended")
MAX_REASON_LENGTH = 500

# What each action makes of each status it applies to.
_TRANSITIONS: dict[StandingAction, dict[CompanyStatus, CompanyStatus]] = {
    "verify": {"registered": "verified"},
    "suspend": {"registered": "suspended", "verified": "suspended"},
    # back to what it was before: verified, or registered if the park never verified it
    "reinstate": {"suspended": "registered"},
}


PAST: dict[StandingAction, str] = {
    "verify": "verified",
    "suspend": "suspended",
    "reinstate": "reinstated",
}


def transition(
    current: CompanyStatus, action: StandingAction, *, was_verified: bool = False
) -> CompanyStatus:
    """The status ``action`` leads to from ``current``; a ``Refusal`` (code
    ``company.transition_impossible``) when it does not apply. Reinstating returns a
    company the park had verified to ``verified``."""
    allowed = _TRANSITIONS[action]
    if current not in allowed:
        raise Refusal(
            "company.transition_impossible",
            f"a {current} company cannot be {PAST[action]}",
            status=current,
            action=action,
        )
    if action == "reinstate" and was_verified:
        return "verified"
    return allowed[current]


def suspension_reason(text: str | None) -> str:
    """The reason the company is told; required, trimmed, at most 500 characters."""
    reason = (text or "").strip()
    if not reason:
        raise Refusal(
            "company.suspension_reason_missing",
            "say why the company is suspended; its people are shown the reason",
            field="reason",
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise Refusal(
            "value.string_too_long",
            f"at most {MAX_REASON_LENGTH} characters",
            field="reason",
            max_length=MAX_REASON_LENGTH,
        )
    return reason


def may_trade(status: str) -> bool:
    """Whether a company of this status may post, publish and change listings."""
    return status != "suspended"
