"""Why the domain says no, in terms any entry point can render (HTTP problem details, a log
line for a consumer)."""

from __future__ import annotations

from typing import Literal

Kind = Literal["not_found", "forbidden", "conflict", "invalid"]


class Refused(Exception):
    """A rule of the domain refuses the change; nothing was changed.

    ``field`` names the part of the request at fault, when there is one."""

    def __init__(
        self,
        kind: Kind,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind: Kind = kind
        self.title = title
        self.detail = detail
        self.field = field
        self.message = message or detail


def not_found(what: str) -> Refused:
    return Refused("not_found", "Not found", f"no {what} of yours")
