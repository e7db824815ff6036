"""A proposal's reasons in the language of the page, from their codes and parameters (the
catalogue is ``shared.reasons``, which the notifications use too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.portal.i18n import current_language
from shared import reasons


def in_words(reason: Mapping[str, Any]) -> str:
    """A reason (``{"code": ..., "params": {...}}``) in the current language."""
    language: reasons.Language = "nb" if current_language() == "nb" else "en"
    return reasons.render(str(reason.get("code")), reason.get("params") or {}, language)
