"""Every refusal code the services make is documented in docs/errors.md, and the portal has
words for every documented code (tests/unit/test_portal_i18n.py checks both languages). A
reason's code (why a contract ended, why a reservation was refused: ``shared.reasons``) is
documented in docs/reasons.md instead, and has its words in both languages there
(tests/unit/test_reasons.py)."""

from __future__ import annotations

import re

from services.portal.problems import FIELD_MESSAGES, SUMMARIES
from shared.reasons import CATALOGUE
from tests.support import REPO

AREAS = (
    "company|person|location|listing|search|negotiation|contract|delivery|declaration|request"
    "|webhook"
)
CODE = rf'"((?:{AREAS}|value)\.[a-z_]+)"'
MADE = re.compile(rf"(?:Refusal\(\s*|code=|field_error\(\s*[^,()]+,\s*){CODE}")
SOURCES = [
    *(REPO / "services" / "listings").rglob("*.py"),
    *(REPO / "services" / "contracts").rglob("*.py"),
    *(REPO / "services" / "notifications").rglob("*.py"),
    REPO / "shared" / "refusals.py",
]


def documented() -> set[str]:
    text = (REPO / "docs" / "errors.md").read_text()
    table = text.split("## The exchange's rules", 1)[1]
    return set(re.findall(r"`([a-z]+\.[a-z_]+)`", table))


def test_every_code_the_services_make_is_documented() -> None:
    made = {code for path in SOURCES for code in MADE.findall(path.read_text())}
    assert {"delivery.more_than_left", "listing.ewc_code_unknown"} <= made
    undocumented = {c for c in made if not c.startswith("value.")} - documented() - set(CATALOGUE)
    assert not undocumented, f"add to docs/errors.md: {sorted(undocumented)}"


def test_the_portal_has_words_for_every_documented_code() -> None:
    said = set(FIELD_MESSAGES) | set(SUMMARIES)
    without_words = documented() - said - {c for c in documented() if c.startswith("request.")}
    assert not without_words, f"add to services/portal/problems.py: {sorted(without_words)}"
