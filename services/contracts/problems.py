"""The domain's refusals as RFC 9457 problem details (one handler for every controller)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.types import ExceptionHandlersMap

from services.contracts.domain.refusals import Refused
from shared.auth import Principal
from shared.http import Problem, problem_response
from shared.refusals import field_error

STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 400}


def on_refused(request: Request[Any, Any, Any], exc: Refused) -> Response[dict[str, Any]]:
    errors = [field_error(exc.field, exc.code, exc.message, **exc.params)] if exc.field else None
    return problem_response(
        request,
        STATUS[exc.kind],
        exc.title,
        exc.detail,
        errors,
        code=exc.code,
        params=exc.params,
    )


REFUSALS: ExceptionHandlersMap = {Refused: on_refused}


def company(principal: Principal) -> Any:
    """The caller's company; 403 for a caller that has none (a park administrator)."""
    if principal.company_id is None:
        raise Problem(403, "Forbidden", "this needs a company's account or API key")
    return principal.company_id
