"""The notifications service's directory of people (whom to e-mail, in which language),
kept from ``person.changed`` on listings.events.v1 (``storage.people.remember``), and the
routes of their e-mail preferences."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from pydantic import BaseModel, Field

from services.notifications.email import EVENT_TYPES
from services.notifications.storage import people as people_store
from shared.db import Pool
from shared.http import Problem, company_of, example_body, principal_of


class Preferences(BaseModel):
    """Which event types reach you by e-mail, and whether as one daily digest."""

    email: dict[str, bool] = Field(
        description="Event type → e-mail or not; every type the exchange notifies is listed."
    )
    daily_digest: bool = Field(
        default=False, description="One e-mail a day (at 07:00 Oslo time) instead of one per event."
    )
    address: str | None = Field(
        default=None,
        description="Where your e-mails go, in which language; null until the notifications "
        "service has heard of you (seconds after you join), and for company defaults.",
    )
    language: str | None = None


class PreferencesChange(BaseModel):
    email: dict[str, bool] = Field(default={}, description="Only the types you change.")
    daily_digest: bool | None = None


def _check_types(change: PreferencesChange) -> None:
    unknown = sorted(set(change.email) - set(EVENT_TYPES))
    if unknown:
        raise Problem(
            400,
            "The request is not valid",
            f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}",
            errors=[{"field": "email", "message": f"unknown: {', '.join(unknown)}"}],
        )


EXAMPLE = {"email": {"trade.proposed": True, "invoice.issued": False}, "daily_digest": True}


class PreferencesController(Controller):
    path = "/preferences"
    tags = ["preferences"]

    @get("/me", operation_id="get_my_preferences")
    async def mine(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> Preferences:
        """Your e-mail preferences: your own choice per event type, else your company's
        default, else yes."""
        person, company = _person(request)
        return await _resolved(pool, person, company)

    @put("/me", operation_id="set_my_preferences")
    async def set_mine(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[PreferencesChange, example_body(("Fewer e-mails, once a day", EXAMPLE))],
        pool: NamedDependency[Pool],
    ) -> Preferences:
        """Choose which event types reach you by e-mail, and a daily digest."""
        person, company = _person(request)
        _check_types(data)
        async with pool.acquire() as conn, conn.transaction():
            await people_store.set_person_choices(conn, person, data.email)
            if data.daily_digest is not None:
                await people_store.set_daily_digest(conn, person, data.daily_digest)
        return await _resolved(pool, person, company)

    @get("/company", operation_id="get_company_preferences")
    async def company(
        self, request: Request[Any, Any, Any], pool: NamedDependency[Pool]
    ) -> Preferences:
        """Your company's defaults for its people's e-mails."""
        company = company_of(request, "company:read")
        return await _resolved(pool, None, company)

    @put("/company", operation_id="set_company_preferences")
    async def set_company(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            PreferencesChange,
            example_body(
                ("No e-mails of withdrawn proposals", {"email": {"trade.retracted": False}})
            ),
        ],
        pool: NamedDependency[Pool],
    ) -> Preferences:
        """Company admins: the defaults for people who have not chosen themselves (a digest
        is each person's own choice)."""
        company = company_of(request, "company:admin")
        _check_types(data)
        async with pool.acquire() as conn, conn.transaction():
            await people_store.set_company_defaults(conn, company, data.email)
        return await _resolved(pool, None, company)


def _person(request: Request[Any, Any, Any]) -> tuple[uuid.UUID, uuid.UUID]:
    principal = principal_of(request, "inbox:read")
    if principal.kind != "person" or principal.company_id is None:
        raise Problem(403, "Forbidden", "e-mail preferences belong to a person signed in")
    return principal.subject_id, principal.company_id


async def _resolved(pool: Pool, person: uuid.UUID | None, company: uuid.UUID) -> Preferences:
    async with pool.acquire() as conn:
        own = await people_store.person_choices(conn, person)
        default = await people_store.company_defaults(conn, company)
        daily = await people_store.takes_daily_digest(conn, person)
        known = await people_store.active_address(conn, person)
    address, language = known or (None, None)
    return Preferences(
        email={t: own.get(t, default.get(t, True)) for t in EVENT_TYPES},
        daily_digest=daily,
        address=address,
        language=language,
    )
