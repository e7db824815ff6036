"""The matching service's own settings: how many proposals, what transport costs, when an
unanswered proposal expires."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class MatchingSettings(Settings):
    """What only the matching service reads."""

    proposal_expiry_hours: float = Field(
        default=30 * 24, gt=0, description="An unanswered proposal expires after this long."
    )
    haulage_ore_per_tkm: int | None = Field(
        default=None,
        ge=0,
        description="Road haulage rate (øre per tonne-km) for the transport cost of proposals; "
        "unset: the cost is not estimated.",
    )
    max_proposals_per_listing: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="When a listing opens or changes, the matcher proposes at most this many "
        "counterparts, the best first.",
    )
