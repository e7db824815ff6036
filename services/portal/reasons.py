"""The matcher's reasons for a proposal, in the language of the page (the sentences and
their translations are in ``shared.reasons``, which the notifications use too)."""

from __future__ import annotations

from services.portal.i18n import current_language
from shared import reasons


def in_words(reason: str) -> str:
    """The matcher's reason in the current language (as written, if of an unknown kind)."""
    return reasons.in_words(reason).in_(current_language())
