"""The portal's app factory: pages, static files, sessions, CSRF and the language.

Pages are grouped by what they are about, one controller module each; a new group
(e.g. the park administrators' dashboard) is one more entry in ``PAGES`` with its
templates in a folder of its own under templates/.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog
from litestar import Litestar, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, ControllerRouterHandler, Receive, Scope, Send

from services.portal import (
    account,
    audit,
    console,
    contracts,
    dashboard,
    inbox,
    listings,
    partners,
    permits,
    plan,
    profile,
    signup,
    trades,
    uncovering,
    webhooks,
)
from services.portal import settings as settings_page
from services.portal.client import ApiProblem, Services
from services.portal.config import PortalSettings
from services.portal.i18n import N_, _, as_language, negotiate, use_language
from services.portal.pages import render, sign_in_path
from services.portal.problems import FormErrors, explain
from services.portal.session import served_over_https, session_secret
from services.portal.standing import Standings, look_up_standing
from services.portal.templating import template_engine
from shared.observability import metrics_text

log = structlog.get_logger(__name__)

STATIC = Path(__file__).parent / "static"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
SESSION_COOKIE = "vp_session"
SESSION_HOURS = 12

PAGES: list[ControllerRouterHandler] = [
    account.AccountController,
    account.CompanyController,
    signup.SignUpController,
    signup.SuggestionsController,
    listings.ListingsController,
    listings.SearchController,
    trades.TradesController,
    contracts.ContractsController,
    contracts.InvoicesController,
    contracts.PapersController,
    contracts.ReportController,
    inbox.InboxController,
    dashboard.DashboardController,
    partners.PartnersController,
    uncovering.UncoveringController,
    console.ConsoleController,
    settings_page.SettingsController,
    profile.CompanySettingsController,
    webhooks.WebhooksController,
    audit.AuditController,
    permits.PermitsController,
]


# What the browser may load and run: only this site's own scripts, styles and images (the
# vendored libraries are served from /static) and the map's tiles, no inline script, no
# framing by other sites.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: {plan.TILE_ORIGIN}",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(secure: bool) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware: every answer carries the portal's security headers (and, served over
    https, Strict-Transport-Security)."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    ]
    if secure:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    def middleware(app: ASGIApp) -> ASGIApp:
        async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return

            async def sending(message: Any) -> None:
                if message["type"] == "http.response.start":
                    present = {name.lower() for name, _ in message.get("headers", ())}
                    message["headers"] = [
                        *message.get("headers", ()),
                        *((k, v) for k, v in headers if k not in present),
                    ]
                await send(message)

            await app(scope, receive, sending)

        return with_headers

    return middleware


def language_middleware(app: ASGIApp) -> ASGIApp:
    """Every request speaks the language of its cookie, else of the browser (else bokmål)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
            chosen = as_language(connection.cookies.get(account.LANGUAGE_COOKIE))
            use_language(chosen or negotiate(connection.headers.get("accept-language")))
        await app(scope, receive, send)

    return middleware


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def on_not_signed_in(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    """To the sign-in page, and back here afterwards (for htmx: the whole page goes)."""
    request.clear_session()
    target = sign_in_path(request.url.path)
    if _is_htmx(request):
        return Response(content="", status_code=200, headers={"HX-Redirect": target})
    return Redirect(path=target)


def on_api_problem(request: Request[Any, Any, Any], exc: ApiProblem) -> Response[Any]:
    if exc.status == 401:
        return on_not_signed_in(request, exc)
    return _error_page(request, explain(exc), exc.status if exc.status < 500 else 502)


def _speak_readers_language(request: Request[Any, Any, Any]) -> None:
    """An address no page answers never passed the language middleware: speak the
    reader's language all the same."""
    chosen = as_language(request.cookies.get(account.LANGUAGE_COOKIE))
    use_language(chosen or negotiate(request.headers.get("accept-language")))


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    _speak_readers_language(request)
    if isinstance(exc, NotFoundException):
        errors = FormErrors(_(N_("There is no such page.")))
    elif isinstance(exc, PermissionDeniedException):
        # CSRF: the form was older than the session, or came from elsewhere.
        errors = FormErrors(_(N_("The form had expired. Go back, reload the page and try again.")))
    else:
        errors = FormErrors(_(N_("The address or the form was not understood.")))
    return _error_page(request, errors, exc.status_code)


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _speak_readers_language(request)
    log.exception("portal error", path=request.url.path, error=repr(exc))
    errors = FormErrors(_(N_("Something went wrong on our side. Try again later.")))
    return _error_page(request, errors, 500)


def _error_page(request: Request[Any, Any, Any], errors: FormErrors, status: int) -> Response[Any]:
    template = "partials/error.html" if _is_htmx(request) else "error.html"
    return render(request, template, status_code=status, errors=errors)


@get("/favicon.ico", name="favicon", include_in_schema=False)
async def favicon() -> Redirect:
    """Browsers that ask for /favicon.ico get the portal's icon."""
    return Redirect(path="/static/favicon.svg", status_code=301)


@get("/health", name="health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Ready when it answers (the portal has no database)."""
    return {"status": "ok", "service": "portal"}


@get("/metrics", name="metrics", include_in_schema=False)
async def metrics() -> Response[bytes]:
    """Prometheus metrics of the portal's process (its own port; the gateway refuses
    /metrics)."""
    body, media_type = await metrics_text([])
    return Response(body, media_type=media_type)


def create_app(
    settings: PortalSettings | None = None, services: Services | None = None
) -> Litestar:
    settings = settings or PortalSettings()
    secret = session_secret(settings)
    secure = served_over_https(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.services = services or Services(settings.upstreams())
        app.state.standings = Standings()
        try:
            yield
        finally:
            await app.state.services.aclose()

    app = Litestar(
        route_handlers=[
            health,
            favicon,
            metrics,
            *PAGES,
            create_static_files_router(path="/static", directories=[STATIC], name="static"),
        ],
        lifespan=[lifespan],
        before_request=look_up_standing,
        state=State({"settings": settings}),
        middleware=[
            language_middleware,
            CookieBackendConfig(
                secret=secret,
                key=SESSION_COOKIE,
                max_age=SESSION_HOURS * 3600,
                httponly=True,
                samesite="lax",
                secure=secure,
            ).middleware,
        ],
        csrf_config=CSRFConfig(
            secret=secret.hex(),
            cookie_name=CSRF_COOKIE,
            header_name=CSRF_HEADER,
            cookie_secure=secure,
            cookie_samesite="lax",
        ),
        template_config=TemplateConfig(instance=template_engine()),
        exception_handlers={
            NotAuthorizedException: on_not_signed_in,
            ApiProblem: on_api_problem,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
        openapi_config=None,
        logging_config=None,  # shared.logs configures logging once per process
        debug=False,
    )
    # Around everything, not per route: unknown paths and refused requests get them too.
    app.asgi_handler = security_headers(secure)(app.asgi_handler)
    return app
