"""What every page handler uses: the person and their API client as dependencies, the
template response with the common context, form reading and safe redirects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.portal.client import Api, ApiProblem, Services
from services.portal.i18n import current_language
from services.portal.problems import FormErrors, explain
from services.portal.session import SignedIn, person_of, provide_person
from shared.logs import client_address


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def provide_api(request: Request[Any, Any, Any], state: State) -> Api:
    person = person_of(request)
    services: Services = state.services
    return services.as_person(
        person.token if person else None, current_language(), client_address(request.scope)
    )


# Dependencies of every signed-in page: ``person: SignedIn`` and ``api: Api``.
DEPENDENCIES = {
    "person": Provide(provide_person, sync_to_thread=False),
    "api": Provide(provide_api, sync_to_thread=False),
    "services": Provide(provide_services, sync_to_thread=False),
}


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status_code: int = 200,
    errors: FormErrors | None = None,
    values: Mapping[str, Any] | None = None,
    **context: Any,
) -> Template:
    """A page (or, for an htmx request, a fragment) with what every template may use:
    ``person``, ``errors`` (summary and fields), ``values`` (the form as sent), ``path``,
    and ``standing`` (the company's, when the park suspended it: every page says so)."""
    return Template(
        template_name=template,
        context={
            "person": person_of(request),
            "standing": request.state.get("standing"),
            "errors": errors,
            "values": dict(values or {}),
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )


class Page(Protocol):
    """A page shown again after a refused form: with the errors and what was typed."""

    def __call__(
        self, *, errors: FormErrors, values: dict[str, str], status_code: int
    ) -> Awaitable[Template]: ...


async def submit(
    send: Callable[[], Awaitable[Any]],
    form: dict[str, str],
    again: Page,
    done: str,
    *,
    fields: Mapping[str, str] | None = None,
    default_field: str | None = None,
    keep_values: bool = True,
) -> Template | Redirect:
    """Send what a form asks for; then go (GET) to ``done``. A refusal, the portal's own
    (``FormErrors``) or a service's (``ApiProblem``, put into words with the form's
    ``fields`` marked), shows the page ``again`` with what the person typed (unless
    ``keep_values`` is false: a button's form has nothing typed worth keeping)."""
    values = form if keep_values else {}
    try:
        await send()
    except FormErrors as refused:
        return await again(errors=refused, values=values, status_code=400)
    except ApiProblem as problem:
        errors = explain(problem, fields, default_field=default_field)
        return await again(errors=errors, values=values, status_code=problem.status)
    return see_other(done)


def see_other(path: str) -> Redirect:
    """After a successful form post: go (GET) to ``path``."""
    return Redirect(path=path, status_code=HTTP_303_SEE_OTHER)


def local_path(candidate: str | None, default: str = "/") -> str:
    """A path on this site to return to; anything else (another host) becomes ``default``."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return default
    if "\\" in candidate:
        return default
    return candidate


def sign_in_path(next_path: str) -> str:
    return f"/sign-in?next={quote(next_path)}"


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form's fields as text (the last value of a repeated name)."""
    form = await request.form()
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


def my_side(person: SignedIn, trade: Mapping[str, Any]) -> str:
    """``supplier`` or ``receiver``: the person's company's side of a trade."""
    return "supplier" if trade.get("supplier_company_id") == person.company_id else "receiver"
