"""Why the domain says no, in terms any entry point can render (HTTP problem details, a log
line for a consumer)."""

from __future__ import annotations

from typing import Any, Literal

from shared.refusals import plain

Kind = Literal["not_found", "forbidden", "conflict", "invalid"]


class Refused(Exception):
    """A rule of the domain refuses the change; nothing was changed.

    ``field`` names the part of the request at fault, when there is one; ``code`` and
    ``params`` say what the refusal is for a client to put into words (docs/errors.md)."""

    def __init__(
        self,
        kind: Kind,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        message: str | None = None,
        code: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(detail)
        self.kind: Kind = kind
        self.title = title
        self.detail = detail
        self.field = field
        self.message = message or detail
        self.code = code or f"request.{kind}"
        self.params = {k: plain(v) for k, v in params.items()}


def not_found(what: str) -> Refused:
    return Refused("not_found", "Not found", f"no {what} of yours", code="request.not_found")
