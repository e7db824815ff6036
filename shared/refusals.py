"""A refusal a client can act on, as a code with parameters beside its English sentence.

The sentence is for a developer reading the API; the code and parameters are the contract:
the portal (and any client) turns them into words in its reader's language at the right
field, and never parses the sentence. Codes are listed in ``docs/errors.md``.

Pure (no framework, no I/O), so domain modules raise it. ``Refusal`` is a ``ValueError``:
raised in a pydantic validator it becomes that field's validation error, code included.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypedDict

# The code of a validation error pydantic raises itself (a missing field, a number too
# small, ...) is "value." and pydantic's error type: value.missing, value.greater_than, ...
VALUE_PREFIX = "value."
GENERIC = "value.invalid"


class FieldError(TypedDict, total=False):
    """One entry of a problem's ``errors``: the field at fault, the English message, and
    the code with its parameters."""

    field: str
    message: str
    code: str
    params: dict[str, Any]


def plain(value: Any) -> Any:
    """A parameter as JSON carries it: numbers stay numbers (a Decimal as its text, so no
    digit is lost), dates as ISO text, anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


class Refusal(ValueError):
    """Why an input is refused: ``code`` (``listing.ewc_code_unknown``), its ``params``,
    the English ``message``, and the ``field`` when the code is about one."""

    def __init__(self, code: str, message: str, *, field: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.params: dict[str, Any] = {k: plain(v) for k, v in params.items()}

    def as_error(self, field: str | None = None) -> FieldError:
        return field_error(field or self.field or "body", self.code, self.message, **self.params)


def field_error(field: str, code: str, message: str, **params: Any) -> FieldError:
    """An entry of a problem's ``errors``."""
    return {
        "field": field,
        "message": message,
        "code": code,
        "params": {k: plain(v) for k, v in params.items()},
    }
