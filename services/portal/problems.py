"""What a person reads when something they sent was refused: a sentence in their
language, and the form fields at fault marked with what to do about them.

The services' problem details carry a code and parameters for each refusal beside their
English sentence (``shared/refusals.py``, listed in docs/errors.md); here each code becomes
words from the catalogues, with its numbers, units and codes written for the reader. No
sentence of a service is ever read: a code this page does not know is said in general
words for its status. Nothing of a stack trace or of the raw JSON reaches the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.portal.client import UNREACHABLE, ApiProblem
from services.portal.i18n import N_, _
from services.portal.vocabulary import property_unit, property_words, quantity, word
from shared.resources import RESOURCE_CLASSES


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

# What each code says at its field (docs/errors.md lists them). %(name)s takes a parameter
# as ``_params`` writes it for the reader.
FIELD_MESSAGES: dict[str, str] = {
    # any field
    "value.missing": N_("This field is required."),
    "value.greater_than": N_("Enter a number above %(gt)s."),
    "value.greater_than_equal": N_("Enter %(ge)s or more."),
    "value.less_than": N_("Enter a number below %(lt)s."),
    "value.less_than_equal": N_("Enter %(le)s or less."),
    "value.too_large": N_("This number is too large."),
    "value.decimal_parsing": N_("Enter a number."),
    "value.decimal_type": N_("Enter a number."),
    "value.float_parsing": N_("Enter a number."),
    "value.float_type": N_("Enter a number."),
    "value.int_parsing": N_("Enter a whole number."),
    "value.int_type": N_("Enter a whole number."),
    "value.finite_number": N_("Enter a number."),
    "value.date_parsing": N_("Enter a date."),
    "value.date_from_datetime_parsing": N_("Enter a date."),
    "value.date_type": N_("Enter a date."),
    "value.string_too_short": N_("Enter at least %(min_length)s characters."),
    "value.string_too_long": N_("Enter at most %(max_length)s characters."),
    "value.too_long": N_("This list is too long."),
    "value.literal_error": N_("Choose one of the options."),
    "value.enum": N_("Choose one of the options."),
    "value.value_error": N_("This value is not accepted."),
    "value.invalid": N_("This value is not accepted."),
    "value.extra_forbidden": N_("This value is not accepted."),
    "value.string_pattern_mismatch": N_("This is not in the expected form."),
    # companies and people
    "company.org_number_invalid": N_(
        "This is not a valid organisation number (nine digits, the last a check digit)."
    ),
    "company.org_number_taken": N_(
        "A company with this organisation number is already registered."
    ),
    "company.bank_account_invalid": N_(
        "This is not a Norwegian bank account number (11 digits, the last a check digit)."
    ),
    "company.nace_code_invalid": N_("%(value)s is not a NACE code (for example 16.10)."),
    "company.nace_code_unknown": N_("%(value)s is not in the NACE list."),
    "company.suspension_reason_missing": N_(
        "Say why the company is suspended: its people are shown the reason."
    ),
    "company.permit_not_hazardous": N_(
        "%(waste_code)s is not hazardous waste; permits are kept only for hazardous codes."
    ),
    "person.password_too_short": N_("The password needs at least %(min_length)s characters."),
    "person.password_spaces": N_("The password must not start or end with a space."),
    "person.email_taken": N_("This e-mail address already signs in to the exchange."),
    "person.invitation_invalid": N_(
        "This invitation is unknown, used or expired; ask your administrator again."
    ),
    "person.link_invalid": N_("This link is unknown, used or expired. Sign in, or sign up again."),
    "person.email_unconfirmed": N_("Confirm your e-mail address first: open the link we sent you."),
    "location.incomplete": N_("Give both latitude and longitude, or click the map."),
    "location.missing": N_("Give a plot or a place on the map."),
    # listings
    "listing.ewc_code_unknown": N_("This is not a code of the European List of Waste."),
    "listing.hazardous_unconfirmed": N_(
        "%(waste_code)s is hazardous: tick “Hazardous” to confirm it."
    ),
    "listing.not_hazardous": N_("%(waste_code)s is not hazardous: untick “Hazardous”."),
    "listing.hazardous_without_code": N_("Only a waste code can be hazardous: untick “Hazardous”."),
    "listing.unit_not_for_resource": N_("This resource is measured in %(units)s."),
    "listing.resource_missing": N_("Choose a waste code or a resource class."),
    "listing.resource_class_unknown": N_("Choose one of the resources in the list."),
    "listing.resource_class_retired": N_("Choose one of the resources in the list."),
    "listing.use_unknown": N_("Choose one of the uses in the list."),
    "listing.use_only_for_needs": N_("Only a need says what it is for."),
    "listing.quality_required": N_("State the %(property)s in %(unit)s for this resource."),
    "listing.quality_unit": N_("The %(property)s is given in %(unit)s."),
    "listing.quality_repeated": N_("Give each property once."),
    "listing.quality_unknown": N_(
        "The exchange knows no %(property)s for this resource: choose one of the properties "
        "in the list."
    ),
    "listing.window_reversed": N_("The end date is before the start date."),
    "listing.permit_missing": N_(
        "%(waste_code)s is hazardous waste: a need for it requires your company's permit "
        "to receive it, verified by the park, valid and covering the code (see the company "
        "profile)."
    ),
    "listing.quantity_below_reserved": N_(
        "Contracts already reserve %(reserved)s: the quantity cannot be less."
    ),
    "search.unit_missing": N_("Choose the unit of the quantities."),
    "search.distance_incomplete": N_("Give your site and the distance together."),
    # negotiations, contracts and deliveries
    "negotiation.more_than_remains": N_("More than the listing still has: at most %(remaining)s."),
    "negotiation.unit_mismatch": N_("This unit does not measure what the proposal does."),
    "negotiation.stream_window_missing": N_("A stream needs its first and last delivery."),
    "negotiation.terms_replaced": N_("These terms are no longer on the table; see the new ones."),
    "contract.unit_mismatch": N_("This unit does not measure what the contract does."),
    "delivery.more_than_left": N_("At most %(left)s can be recorded on this contract."),
    "delivery.in_future": N_("A delivery is recorded once it has happened: not a future date."),
    "delivery.declaration_required": N_("Hazardous waste is delivered with its declaration."),
    "delivery.declaration_incomplete": N_(
        "The declaration is not complete, or your permit for this waste is not on record."
    ),
    "declaration.waste_number_invalid": N_(
        "Enter the waste substance number: four digits from 7000, e.g. 7042."
    ),
    "declaration.description_short": N_("Describe the waste in a few words."),
    "declaration.properties_invalid": N_("Name the hazardous properties as HP1 to HP15."),
    "declaration.un_number_invalid": N_("Enter a UN number: four digits, e.g. UN 1263."),
    "webhook.url_refused": N_(
        "Enter an https:// address on the internet; the exchange sends to no address inside "
        "the park's network."
    ),
    "webhook.event_types_refused": N_("Choose among the events listed."),
}

# What a refusal with no field at fault says, by its code, instead of the status's summary.
SUMMARIES: dict[str, str] = {
    "negotiation.not_open": N_("This negotiation is closed; nothing more can be answered."),
    "negotiation.expired": N_("This negotiation has expired."),
    "negotiation.no_price": N_("These terms have no price yet: counter with the price you want."),
    "negotiation.already_accepted": N_(
        "You have accepted these terms; waiting for the other company."
    ),
    "negotiation.terms_replaced": N_("These terms are no longer on the table; see the new ones."),
    "negotiation.not_ready": N_("The exchange is still taking in this trade; try again shortly."),
    "negotiation.more_than_remains": N_(
        "More than the listing still has; enter less and try again."
    ),
    "contract.not_active": N_("This contract is no longer active."),
    "delivery.already_answered": N_("This delivery has already been answered."),
    "delivery.supplier_only": N_("Only the supplier records deliveries."),
    "delivery.receiver_only": N_("Only the receiver confirms or disputes a delivery."),
    "delivery.more_than_left": N_("More than the contract has left; see the marked field."),
    "delivery.declaration_incomplete": N_(
        "The declaration is not complete, or your permit for this waste is not on record."
    ),
    "company.suspended": N_(
        "The park office has suspended your company: it cannot post, publish or change "
        "listings until the park reinstates it. The reason given: %(reason)s"
    ),
    "company.transition_impossible": N_(
        "The company's standing has changed in the meantime; see it as it is now."
    ),
    "webhook.too_many": N_(
        "You have as many webhooks as a company may have (%(max_endpoints)s): delete one first."
    ),
}


def _unit_words(units: Any) -> str:
    if isinstance(units, list):
        return ", ".join(word(u) for u in units)
    return word(units)


def _params(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as the reader writes them: quantities with their unit, numbers with the
    language's separators, units and properties in words."""
    from services.portal.templating import number

    unit = str(params.get("unit") or params.get("contract_unit") or "")
    out: dict[str, str] = {}
    for name, value in params.items():
        if name in ("left", "remaining", "reserved", "contracted") and unit:
            out[name] = quantity(value, unit, number)
        elif name == "units":
            out[name] = _unit_words(value)
        elif name in ("unit", "given") and "property" in params:
            out[name] = property_unit(value)
        elif name in ("unit", "given", "contract_unit", "proposal_unit"):
            out[name] = word(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = number(value)
        else:
            out[name] = "" if value is None else str(value)
    if "property" in params:
        out["property"] = property_name(str(params.get("property")), params)
    return out


def property_name(name: str, params: Mapping[str, Any]) -> str:
    """A quality property in words (``temperature_c`` is "temperature"), from the
    catalogues."""
    kind = str(params.get("resource_class") or "")
    return property_words(name, (f"class:{kind}",) if kind in RESOURCE_CLASSES else ())


def message_for(code: str, params: Mapping[str, Any], fallback: str) -> str:
    """The words for ``code`` with its parameters; ``fallback`` (a catalogue message) for a
    code the portal does not know."""
    template = FIELD_MESSAGES.get(code)
    if template is None:
        return _(fallback)
    try:
        return _(template, **_params(params))
    except (KeyError, ValueError, TypeError):
        return _(fallback)


def _form_field(name: str, form_fields: Mapping[str, str]) -> str:
    """The form's field for the API's ``body.quality.0.max`` or ``declaration.waste_number``:
    the whole path if the form names it, else its first part."""
    parts = [p for p in name.replace("[", ".").replace("]", "").split(".") if p]
    parts = [p for p in parts if p not in ("body", "query", "path", "data")]
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in form_fields:
            return form_fields[candidate]
        if size == 1 and candidate in form_fields.values():
            return candidate
    return ""


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
    status_summary = _SUMMARIES.get(problem.status, _SUMMARIES[400])
    summary = _(status_summary)
    if problem.code in SUMMARIES:
        try:
            summary = _(SUMMARIES[problem.code], **_params(problem.params or {}))
        except (KeyError, ValueError, TypeError):
            summary = _(status_summary)
    fields: dict[str, str] = {}
    fallback = N_("This value is not accepted.")
    for error in problem.errors:
        form_name = _form_field(error.get("field", ""), form_fields)
        if form_name:
            fields.setdefault(
                form_name, message_for(error.get("code", ""), error.get("params", {}), fallback)
            )
    if problem.status in (400, 409, 422) and not fields and default_field:
        code = problem.errors[0].get("code", "") if problem.errors else problem.code
        params = problem.errors[0].get("params", {}) if problem.errors else problem.params
        if code in FIELD_MESSAGES or problem.status != 409:
            fields[default_field] = message_for(code or "", params or {}, fallback)
    return FormErrors(summary, fields)
