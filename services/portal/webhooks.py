"""The company's webhooks (its administrators'): register an endpoint for the events it
chooses (the signing secret shown once), see each endpoint's delivery log, pause, resume,
rotate the secret or delete it. Kept by the notifications service (``/webhooks/endpoints``,
docs/webhooks.md)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.response import Redirect, Template

from services.portal.client import Api, ApiProblem
from services.portal.i18n import N_, _
from services.portal.pages import DEPENDENCIES, render, see_other
from services.portal.problems import FormErrors, explain
from services.portal.session import SignedIn, signed_in
from services.portal.settings import KINDS

SHOWN_ONCE = "webhook_secret"  # the session key of a secret to show once
ENDPOINTS = "/webhooks/endpoints"
ACTIONS = ("pause", "resume", "rotate-secret", "delete")
FIELDS = {"url": "url", "description": "description", "event_types": "event_types"}


def kind_words() -> dict[str, str]:
    return {kind: _(words) for kind, words in KINDS.items()}


def endpoint_body(
    form: dict[str, str], chosen: list[str]
) -> tuple[dict[str, Any], FormErrors | None]:
    """The API's body from the form, or what is missing."""
    body = {
        "url": form.get("url", "").strip(),
        "description": form.get("description", "").strip() or None,
        "event_types": [kind for kind in KINDS if kind in chosen],
    }
    missing: dict[str, str] = {}
    if not body["url"]:
        missing["url"] = _(N_("This field is required."))
    if not body["event_types"]:
        missing["event_types"] = _(N_("Choose at least one event."))
    if missing:
        return body, FormErrors(
            _(N_("Some of what you entered needs correcting; see the marked fields.")), missing
        )
    return body, None


def _admins_only(person: SignedIn) -> None:
    if not person.is_company_admin:
        raise PermissionDeniedException("webhooks are for the company's administrators")


class WebhooksController(Controller):
    path = "/webhooks"
    guards = [signed_in]
    dependencies = DEPENDENCIES

    async def _list(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        *,
        status_code: int = 200,
        errors: FormErrors | None = None,
        values: dict[str, Any] | None = None,
    ) -> Template:
        endpoints = await api.get("notifications", ENDPOINTS)
        return render(
            request,
            "webhooks/list.html",
            status_code=status_code,
            errors=errors,
            values=values,
            endpoints=endpoints,
            kinds=kind_words(),
        )

    @get("/", name="webhooks")
    async def show(self, request: Request[Any, Any, Any], api: Api, person: SignedIn) -> Template:
        _admins_only(person)
        return await self._list(request, api)

    @post("/")
    async def create(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn
    ) -> Template | Redirect:
        _admins_only(person)
        posted = await request.form()
        form = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
        chosen = [str(v) for v in posted.getall("event_types", [])]
        body, errors = endpoint_body(form, chosen)
        values = {**form, "event_types": chosen}
        if errors:
            return await self._list(request, api, status_code=400, errors=errors, values=values)
        try:
            made = await api.post("notifications", ENDPOINTS, body)
        except ApiProblem as problem:
            errors = explain(problem, FIELDS, default_field="url")
            return await self._list(
                request, api, status_code=problem.status, errors=errors, values=values
            )
        # Post, then redirect: the secret shown once, carried in the encrypted session.
        request.set_session({**request.session, SHOWN_ONCE: made["secret"]})
        return see_other(f"/webhooks/{made['id']}")

    @get("/{endpoint_id:uuid}", name="webhook")
    async def one(
        self, request: Request[Any, Any, Any], api: Api, person: SignedIn, endpoint_id: uuid.UUID
    ) -> Template:
        _admins_only(person)
        return await self._one(request, api, endpoint_id)

    async def _one(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        endpoint_id: uuid.UUID,
        *,
        status_code: int = 200,
        errors: FormErrors | None = None,
    ) -> Template:
        endpoint = await api.get("notifications", f"{ENDPOINTS}/{endpoint_id}")
        deliveries = await api.get("notifications", f"{ENDPOINTS}/{endpoint_id}/deliveries")
        session = dict(request.session)
        secret = session.pop(SHOWN_ONCE, None)
        if secret is not None:
            request.set_session(session)
        return render(
            request,
            "webhooks/endpoint.html",
            status_code=status_code,
            errors=errors,
            endpoint=endpoint,
            deliveries=deliveries,
            secret=secret,
            kinds=kind_words(),
        )

    @post("/{endpoint_id:uuid}/{action:str}")
    async def act(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        person: SignedIn,
        endpoint_id: uuid.UUID,
        action: str,
    ) -> Template | Redirect:
        _admins_only(person)
        if action not in ACTIONS:
            errors = FormErrors(_(N_("Choose one of the options.")))
            return await self._one(request, api, endpoint_id, status_code=400, errors=errors)
        path = f"{ENDPOINTS}/{endpoint_id}"
        try:
            if action == "delete":
                await api.delete("notifications", path)
                return see_other("/webhooks")
            answer = await api.post("notifications", f"{path}/{action}")
        except ApiProblem as problem:
            return await self._one(
                request, api, endpoint_id, status_code=problem.status, errors=explain(problem)
            )
        if action == "rotate-secret" and isinstance(answer, dict) and answer.get("secret"):
            request.set_session({**request.session, SHOWN_ONCE: answer["secret"]})
        return see_other(f"/webhooks/{endpoint_id}")
