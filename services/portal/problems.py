"""What a person reads when something they sent was refused: a sentence in their
language, and the form fields at fault marked with what to do about them.

The services answer in English problem details for developers; here each answer
becomes words for the person filling in the form. Nothing of a stack trace or of the
raw JSON reaches the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.portal.client import UNREACHABLE, ApiProblem
from services.portal.i18n import N_, _, current_language


@dataclass
class FormErrors(Exception):
    """A summary for the top of the form and a message per form field."""

    summary: str
    fields: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    def __str__(self) -> str:
        return self.summary


_SUMMARIES: dict[int, str] = {
    400: N_("Some of what you entered needs correcting; see the marked fields."),
    401: N_("Your session has ended. Sign in again."),
    403: N_("You are not allowed to do this."),
    404: N_("This was not found, or it is not yours to see."),
    409: N_("This cannot be done now: it has changed in the meantime or is no longer possible."),
    413: N_("What you sent is too large."),
    422: N_("Some of what you entered needs correcting; see the marked fields."),
    429: N_("Too many requests; wait a moment and try again."),
}
_UNREACHABLE = N_("The exchange cannot be reached just now. Try again in a moment.")
_SERVER = N_("Something went wrong on our side. Try again later.")

# The services' English field messages, recognised by their words, in the person's language.
_FIELD_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), message)
    for pattern, message in (
        (r"List of Waste", N_("This is not a code of the European List of Waste.")),
        (r"greater than zero|greater than 0|above zero", N_("Enter a number above zero.")),
        (r"implausibly large|less than or equal", N_("This number is too large.")),
        (r"greater than or equal", N_("This number is too small.")),
        (r"decimal|number|float|integer|int_", N_("Enter a number.")),
        (r"date", N_("Enter a date.")),
        (r"hazardous entry", N_("This code is hazardous: tick “Hazardous” to confirm it.")),
        (r"not hazardous", N_("This code is not hazardous: untick “Hazardous”.")),
        (r"measured in", N_("This unit does not measure this resource.")),
        (r"window ends before", N_("The end date is before the start date.")),
        (r"at least \d+ characters|too short|at least \d+ character", N_("This is too short.")),
        (r"at most \d+ characters|too long", N_("This is too long.")),
        (r"^at most \S+ \S+$", N_("More than the listing still has: enter less.")),
        (r"e-?mail", N_("Enter a valid e-mail address.")),
        (r"required|missing", N_("This field is required.")),
        (r"either ewc_code|give either", N_("Choose a waste code or a resource class.")),
        (r"must state", N_("State the temperature (quality “temperature_c”) for this resource.")),
        (r"unit", N_("This unit does not fit.")),
    )
)
_GENERIC_FIELD = N_("This value is not accepted.")


def field_message(api_message: str) -> str:
    """A service's message about one field, in the person's language."""
    for pattern, message in _FIELD_MESSAGES:
        if pattern.search(api_message):
            return _(message)
    return _(_GENERIC_FIELD)


def _api_field(name: str) -> str:
    """``body.quality.0.max`` or ``quantity`` to the top-level field name."""
    parts = [p for p in re.split(r"[.\[\]]", name) if p and p not in ("body", "query", "path")]
    return parts[0] if parts else ""


def explain(
    problem: ApiProblem,
    form_fields: Mapping[str, str] | None = None,
    *,
    default_field: str | None = None,
) -> FormErrors:
    """The problem as the person should read it. ``form_fields`` maps the API's field names
    to the form's; a 400 that names no field of the form marks ``default_field``."""
    form_fields = form_fields or {}
    if problem.status == UNREACHABLE:
        return FormErrors(_(_UNREACHABLE))
    if problem.status >= 500:
        return FormErrors(_(_SERVER))
    summary = _(_SUMMARIES.get(problem.status, _SUMMARIES[400]))
    fields: dict[str, str] = {}
    for error in problem.errors:
        api_name = _api_field(error.get("field", ""))
        form_name = form_fields.get(api_name, api_name if api_name in form_fields.values() else "")
        if form_name:
            fields.setdefault(form_name, field_message(error.get("message", "")))
    if problem.status in (400, 422) and not fields:
        named = _field_named_in(problem.detail, form_fields)
        target = named or default_field
        if target:
            fields[target] = field_message(problem.detail)
    # The service's own words help an English reader; they are in English only.
    detail = problem.detail if current_language() == "en" else ""
    return FormErrors(summary, fields, detail)


def _field_named_in(detail: str, form_fields: Mapping[str, str]) -> str | None:
    for api_name, form_name in form_fields.items():
        if re.search(rf"\b{re.escape(api_name)}\b", detail):
            return form_name
    return None
