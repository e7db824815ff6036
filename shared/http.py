"""HTTP conventions of every service: RFC 9457 problem details and bearer authentication."""

from __future__ import annotations

import uuid
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import asyncpg
import msgspec
import structlog
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.openapi.spec import (
    Example,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.params import Body
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, ExceptionHandlersMap, Method, Scopes

from shared.auth import InvalidCredentials, Principal, TokenVerifier
from shared.db import DATABASE_LOST, lent_pool
from shared.refusals import GENERIC, VALUE_PREFIX, FieldError, Refusal, field_error, plain
from shared.revocations import is_revoked

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PUBLIC = "public"  # route opt key: no authentication


class Problem(HTTPException):
    """A domain error a client can act on; rendered as problem details.

    ``errors`` name the fields at fault, each with a code and its parameters beside the
    English message (``field_error("org_number", "company.org_number_taken", "...")``);
    ``code`` and ``params`` say what the refusal is when no field is at fault.
    """

    def __init__(
        self,
        status_code: int,
        title: str,
        detail: str = "",
        *,
        errors: list[FieldError] | None = None,
        problem_type: str = "about:blank",
        code: str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail or title, status_code=status_code, headers=headers)
        self.title = title
        self.errors = errors or []
        self.problem_type = problem_type
        self.code = code or (self.errors[0].get("code") if self.errors else None)
        self.params = {k: plain(v) for k, v in (params or {}).items()}

    @classmethod
    def invalid(cls, refusal: Refusal, field: str | None = None, status_code: int = 400) -> Problem:
        """A 400 (or ``status_code``) naming the refused field with the refusal's code."""
        error = refusal.as_error(field)
        return cls(
            status_code,
            "The request is not valid",
            f"{error['field']}: {refusal.message}",
            errors=[error],
            code=refusal.code,
            params=refusal.params,
        )


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    problem_type: str = "about:blank",
    code: str | None = None,
    params: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if code:
        body["code"] = code
        body["params"] = params or {}
    if errors:
        body["errors"] = [{"code": GENERIC, "params": {}, **error} for error in errors]
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _pydantic_errors(exc: BaseException) -> list[dict[str, Any]] | None:
    """The errors pydantic reported, with their types and context, when it was pydantic
    that refused (Litestar keeps them on the exception it raised from)."""
    cause = exc.__cause__
    found = getattr(cause, "errors", None)
    if isinstance(found, list) and all(isinstance(e, dict) and "type" in e for e in found):
        return found
    return None


def coded_error(error: dict[str, Any]) -> FieldError:
    """One of pydantic's errors as an entry of ``errors``: a ``Refusal`` raised by a
    validator keeps its code, parameters and field; pydantic's own become ``value.<type>``
    with its context (``value.greater_than`` with ``{"gt": 0}``)."""
    location = [str(part) for part in error.get("loc", ()) if part not in ("data", "body")]
    field = ".".join(location)
    context = dict(error.get("ctx") or {})
    refusal = context.get("error")
    if isinstance(refusal, Refusal):
        return refusal.as_error(field or refusal.field)
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    kind = str(error.get("type") or "")
    if kind in ("value_error", "assertion_error"):
        return field_error(field or "body", GENERIC, message)
    return field_error(
        field or "body", f"{VALUE_PREFIX}{kind}" if kind else GENERIC, message, **context
    )


def _validation_errors(extra: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "body")
            message = str(item.get("message", "invalid")).removeprefix("Value error, ")
            errors.append(field_error(field, GENERIC, message))
    return errors


def on_problem(request: Request[Any, Any, Any], exc: Problem) -> Response[dict[str, Any]]:
    return problem_response(
        request,
        exc.status_code,
        exc.title,
        exc.detail,
        exc.errors,
        headers=dict(exc.headers or {}),
        problem_type=exc.problem_type,
        code=exc.code,
        params=exc.params,
    )


def on_validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    found = _pydantic_errors(exc)
    errors = [coded_error(e) for e in found] if found else _validation_errors(exc.extra)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return problem_response(request, exc.status_code, "The request is not valid", detail, errors)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    return problem_response(
        request, exc.status_code, _title(exc.status_code), str(exc.detail), headers=headers
    )


def on_data_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A value PostgreSQL cannot take (out of range, not encodable): the client's input, so
    a 400, never a 500. Logged, for the check that should have caught it earlier."""
    log.warning("input refused by the database", path=request.url.path, error=type(exc).__name__)
    return problem_response(
        request,
        400,
        "The request is not valid",
        "a value in the request is out of range or cannot be stored",
    )


def on_recursion_error(
    request: Request[Any, Any, Any], exc: RecursionError
) -> Response[dict[str, Any]]:
    return problem_response(
        request,
        400,
        "The request is not valid",
        f"the JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)",
        [{"field": "body", "message": "nested too deeply"}],
    )


def on_unexpected_error(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    log.exception("unhandled error", path=request.url.path, error=repr(exc))
    return problem_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal error",
        "Something went wrong on our side; it has been logged. Try again later.",
    )


# Failures of the database or a neighbour, not of the request: 503, try again shortly.
OUTAGES: tuple[type[Exception], ...] = DATABASE_LOST


def on_outage(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.warning("outage answered 503", path=request.url.path, error=repr(exc))
    return problem_response(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        "Service unavailable",
        "The exchange cannot reach its database right now; nothing was changed. "
        "Try again in a few seconds.",
        headers={"Retry-After": "5"},
    )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    Problem: on_problem,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    **dict.fromkeys(OUTAGES, on_outage),
    asyncpg.DataError: on_data_error,
    RecursionError: on_recursion_error,
    Exception: on_unexpected_error,
}

# --- Input every service refuses before a handler sees it ----------------------------------

MAX_JSON_DEPTH = 32


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        400,
        "The request is not valid",
        f"{field}: {message}",
        errors=[{"field": field, "message": message}],
    )


def _json_problem(value: Any) -> tuple[str, str] | None:
    """The first string holding a NUL character, or the first place nested deeper than
    ``MAX_JSON_DEPTH``: its field path and what is wrong; None when there is neither."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return path or "body", f"nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, str):
            if "\x00" in item:
                return path or "body", "must not contain NUL characters (\\u0000)"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return path or "body", "must not contain NUL characters (\\u0000)"
                stack.append((child, name, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


async def refuse_unstorable_input(request: Request[Any, Any, Any]) -> None:
    """Before any handler: a 400 problem naming the field for a NUL character in the path,
    a query parameter or a JSON string (PostgreSQL text cannot hold one), and for JSON
    nested more than ``MAX_JSON_DEPTH`` levels deep."""
    if "\x00" in request.url.path:
        raise _invalid("path", "must not contain NUL characters")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in str(value):
            raise _invalid(name.replace("\x00", ""), "must not contain NUL characters")
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if "json" not in request.headers.get("content-type", ""):
        return
    body = await request.body()
    if b"\\u0000" not in body and body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    try:
        decoded = msgspec.json.decode(body)
    except RecursionError:
        raise _invalid("body", f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except msgspec.DecodeError:
        return  # not JSON: the handler's own parsing says so
    problem = _json_problem(decoded)
    if problem is not None:
        raise _invalid(*problem)


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Sets ``request.user`` to the caller's ``Principal``; 401 problem details otherwise."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        exclude: str | list[str] | None = None,
        exclude_from_auth_key: str = PUBLIC,
        exclude_http_methods: list[Method] | None = None,
        scopes: Scopes | None = None,
    ) -> None:
        super().__init__(
            app,
            exclude=exclude,
            exclude_from_auth_key=exclude_from_auth_key,
            exclude_http_methods=exclude_http_methods or ["OPTIONS"],
            scopes=scopes,
        )
        self._verifier = verifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        try:
            principal = self._verifier.verify(connection.headers.get("authorization"))
        except InvalidCredentials as exc:
            raise NotAuthorizedException(detail=str(exc)) from exc
        pool = lent_pool(connection.scope) or connection.app.state.pool  # the request's one
        if await is_revoked(pool, principal):
            raise NotAuthorizedException(
                detail="this API key has been revoked"
                if principal.kind == "api_key"
                else "this sign-in has ended (signed out, or the account was disabled); "
                "sign in again"
            )
        return AuthenticationResult(user=principal, auth=principal)


def principal_of(request: Request[Any, Any, Any], scope: str | None = None) -> Principal:
    """The caller; with ``scope``, a 403 problem unless the caller's role grants it."""
    user = request.user
    assert isinstance(user, Principal)
    if scope is not None and not user.may(scope):
        raise Problem(403, "Forbidden", f"your role ({user.role}) may not do this ({scope})")
    return user


def requires(scope: str) -> Any:
    """A route guard: a 403 problem unless the caller's role grants ``scope``, before the
    request's body is even read (so a refused caller learns nothing from its validation)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: Any) -> None:
        user = connection.scope.get("user")
        if isinstance(user, Principal) and not user.may(scope):
            raise Problem(403, "Forbidden", f"your role ({user.role}) may not do this ({scope})")

    return guard


def company_of(request: Request[Any, Any, Any], scope: str) -> uuid.UUID:
    """The caller's company, for what only a company's own people and keys may do."""
    principal = principal_of(request, scope)
    if principal.company_id is None:
        raise Problem(403, "Forbidden", "this needs a company's account or API key")
    return principal.company_id


def example_body(*examples: tuple[str, dict[str, Any]]) -> Any:
    """A JSON request body marker with named examples for the OpenAPI document:
    ``data: Annotated[Model, example_body(("A heat offer", {...}))]``."""
    return Body(
        media_type=RequestEncodingType.JSON,
        examples=[Example(summary=summary, value=value) for summary, value in examples],
    )


def cookieless() -> CookieJar:
    """A cookie jar that keeps nothing, for an HTTP client that acts for many people (the
    gateway, the portal's API client, the webhook sender): a ``Set-Cookie`` one answer
    carries must never ride along on the next person's request."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


# --- The problems each operation can answer, in the OpenAPI documents ------------------------

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details.",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="`about:blank`, or a URI."),
        "title": Schema(type=OpenAPIType.STRING, description="A short summary."),
        "status": Schema(type=OpenAPIType.INTEGER, description="The HTTP status."),
        "detail": Schema(type=OpenAPIType.STRING, description="What went wrong, in words."),
        "instance": Schema(type=OpenAPIType.STRING, description="The request's path."),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            description="The fields at fault, each with what is wrong with it.",
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "message"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)

_PROBLEMS = {
    400: "The request is not valid: a parameter or a field of the body (named in `errors`), "
    "a NUL character, JSON nested too deeply, a value out of range.",
    401: "No credential, or one that is not valid, has expired or was revoked.",
    403: "The credential's role may not do this.",
    404: "Not found, or not yours to see.",
    409: "Not possible in the thing's present state (or a request with this Idempotency-Key "
    "is still being processed).",
    413: "The request body is larger than 10 MB.",
    422: "This Idempotency-Key was used with a different request.",
    429: "Too many attempts; `Retry-After` says how many seconds to wait.",
    503: "Not available now: the database cannot be reached, the service is restarting, or "
    "(Stripe's webhook) it is not configured; nothing was changed. `Retry-After` says when to "
    "try again.",
}
# Problems only some operations answer, by operation id.
EXTRA_PROBLEMS: dict[str, tuple[int, ...]] = {
    "sign_in": (401, 429),
}


def document_problems(openapi: OpenAPI) -> None:
    """Add to every operation the problem responses it can give (the handlers' own, and
    those of the middleware every request passes: authentication, the body limit,
    idempotency keys, refused input), each as ``application/problem+json``."""
    components = openapi.components
    assert components is not None
    if components.schemas is None:
        components.schemas = {}
    components.schemas["Problem"] = PROBLEM_SCHEMA
    reference = Reference(ref="#/components/schemas/Problem")
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Operation | None = getattr(item, method)
            if operation is None:
                continue
            public = operation.security == []
            codes = {400, 503}
            if not public:
                codes |= {401, 403, 404}
                if method != "get":
                    codes.add(409)
            elif "{" in path:
                codes.add(404)
            if method in ("post", "put", "patch"):
                codes |= {413}
            if method == "post":
                codes |= {409, 422}
            codes |= set(EXTRA_PROBLEMS.get(operation.operation_id or "", ()))
            responses = operation.responses if operation.responses is not None else {}
            for code in sorted(codes):
                responses[str(code)] = OpenAPIResponse(
                    description=_PROBLEMS[code],
                    content={PROBLEM_JSON: OpenAPIMediaType(schema=reference)},
                )
            operation.responses = responses
