"""Who is signed in: their access token and what the portal shows of them, kept in an
encrypted, HttpOnly, SameSite=Lax cookie (Litestar's client-side session)."""

from __future__ import annotations

import os
import secrets
import time
from hashlib import sha256
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from pydantic import BaseModel

from services.portal.config import PortalSettings

# Sign in again a minute before the token would be refused.
EXPIRY_MARGIN_SECONDS = 60


class SignedIn(BaseModel):
    """The person of this session."""

    token: str
    expires_at: float
    person_id: str
    company_id: str | None
    role: str
    email: str
    name: str = ""
    company_name: str = ""

    @property
    def is_park_admin(self) -> bool:
        return self.role == "park_admin"

    @property
    def is_company_admin(self) -> bool:
        return self.role == "admin"

    def expired(self, now: float | None = None) -> bool:
        return (now or time.time()) >= self.expires_at - EXPIRY_MARGIN_SECONDS


SESSION_KEY = "person"


def person_of(connection: ASGIConnection[Any, Any, Any, Any]) -> SignedIn | None:
    """The signed-in person, or None (also when their token has run out)."""
    raw = connection.scope.get("session") or {}
    data = raw.get(SESSION_KEY) if isinstance(raw, dict) else None
    if not data:
        return None
    try:
        person = SignedIn.model_validate(data)
    except ValueError:
        return None
    return None if person.expired() else person


def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a page for signed-in people (the error handler sends others to sign in)."""
    if person_of(connection) is None:
        raise NotAuthorizedException("sign in first")


def provide_person(request: Request[Any, Any, Any]) -> SignedIn:
    person = person_of(request)
    if person is None:
        raise NotAuthorizedException("sign in first")
    return person


def served_over_https(settings: PortalSettings) -> bool:
    """Whether people reach the portal over https (``SYMBIOSIS_PUBLIC_URL``): then every
    cookie it sets is ``Secure`` and it asks browsers for https only (HSTS)."""
    return (settings.public_url or "").lower().startswith("https://")


def session_secret(settings: PortalSettings) -> bytes:
    """The 32-byte key of the session cookie: from the settings, else a random key made
    once and kept (0600) beside the token-signing keys."""
    if settings.portal_session_secret is not None:
        return sha256(settings.portal_session_secret.get_secret_value().encode()).digest()
    path = settings.portal_session_key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return sha256(path.read_text().strip().encode()).digest()
