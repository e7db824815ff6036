"""Loads the Viken Park demo park through the public HTTP API, as a user would: each
company with its first administrator (a person who signs in to the portal and gets the
company's e-mails), its profile and its listings.

The load can be interrupted at any moment and resumed by the next run. Its state lives in
``<data_dir>/demo-keys.json``, rewritten atomically after every step; what a step is about
to create (a company's administrator and password, the park administrator's) is written
there *before* the request, so that a step whose answer was lost can be recognised and
finished: a company registered by a run that died before it saw the answer is found by
its administrator signing in, and a listing by its title among the company's own.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from symbiosis.admins import create_park_admin
from symbiosis.config import StackSettings
from symbiosis.errors import UserError

DEMO_FILE = Path(__file__).parent / "data" / "viken-park-demo.json"
KEYS_FILE = "demo-keys.json"
PARK_ADMIN_KEY = "park_admin"

# The demo's state: company key -> what was made for it, and the park administrator.
State = dict[str, Any]


class DemoError(RuntimeError):
    """The demo could not be loaded; the message says why and what to do."""


def demo_park() -> dict[str, Any]:
    park: dict[str, Any] = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return park


def keys_path(settings: StackSettings) -> Path:
    return settings.data_dir.resolve() / KEYS_FILE


def _read_state(path: Path) -> State:
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DemoError(
            f"{path} cannot be read ({exc}); `symbiosis up --reset-demo` loads the demo afresh"
        ) from None
    if not isinstance(state, dict):
        raise DemoError(f"{path} is not the demo's keys file; `symbiosis up --reset-demo` helps")
    return state


def _write_state(path: Path, state: State) -> None:
    """Replace the file in one step: a kill leaves the old or the new state, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(state, indent=2, ensure_ascii=False))
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class DemoLoader:
    """One run of the demo load; ``save`` is called after every step."""

    def __init__(self, settings: StackSettings, client: httpx.AsyncClient, path: Path) -> None:
        self.settings = settings
        self.client = client
        self.path = path
        self.state = _read_state(path)

    def save(self) -> None:
        _write_state(self.path, self.state)

    async def load(self, park: dict[str, Any]) -> State:
        for company in park["companies"]:
            entry = await self._company(company)
            mine = [
                {k: v for k, v in listing.items() if k != "company"}
                for listing in park["listings"]
                if listing["company"] == company["key"]
            ]
            await self._listings(entry, mine)
        await self._park_admin(park["park_admin"])
        return self.state

    async def _company(self, company: dict[str, Any]) -> dict[str, Any]:
        key = company["key"]
        entry: dict[str, Any] | None = self.state.get(key)
        if entry is None or not (entry.get("admin") or {}).get("password"):
            # The intent, before the request: the password the administrator will have.
            entry = {
                **company,
                "admin": {**company["admin"], "password": secrets.token_urlsafe(12)},
                "listings": {},
            }
            self.state[key] = entry
            self.save()
        if entry.get("api_key") and not await self._key_works(entry["api_key"]):
            # The database was emptied under a kept keys file: register afresh.
            entry["api_key"] = None
            entry["listings"] = {}
        if not entry.get("api_key"):
            entry["api_key"] = await self._register(company, entry["admin"])
            self.save()
        return entry

    async def _key_works(self, api_key: str) -> bool:
        response = await self.client.get("/api/listings/companies/me", headers=_bearer(api_key))
        if response.status_code in (401, 403, 404):
            return False
        self._expect(response, 200, "check a demo company's key")
        return True

    async def _register(self, company: dict[str, Any], admin: dict[str, Any]) -> str:
        response = await self.client.post(
            "/api/listings/companies/",
            json={
                "name": company["name"],
                "org_number": company["org_number"],
                **company.get("profile", {}),
                "contact": {"name": admin["name"], "email": admin["email"]},
                "admin": {k: admin[k] for k in ("name", "email", "language", "password")},
            },
        )
        if response.status_code == 201:
            api_key: str = response.json()["api_key"]
            return api_key
        if response.status_code != 409:
            self._expect(response, 201, f"register {company['name']}")
        # Registered by a run that did not live to record the answer: its administrator has
        # the password written down before that request, and makes the company a new key.
        token = await self._sign_in(admin["email"], admin["password"])
        if token is None:
            raise DemoError(
                f"{company['name']} is already registered, but not with the sign-in kept in "
                f"{self.path} (the keys file of an earlier demo was lost). "
                "`symbiosis up --reset-demo` loads the demo afresh."
            )
        created = await self.client.post(
            "/api/listings/api-keys/", json={"label": "demo"}, headers=_bearer(token)
        )
        self._expect(created, 201, f"make a key for {company['name']}")
        api_key = created.json()["api_key"]
        return api_key

    async def _sign_in(self, email: str, password: str) -> str | None:
        response = await self.client.post(
            "/api/listings/auth/token", json={"email": email, "password": password}
        )
        if response.status_code == 401:
            return None
        self._expect(response, 200, f"sign in as {email}")
        token: str = response.json()["access_token"]
        return token

    async def _listings(self, entry: dict[str, Any], listings: list[dict[str, Any]]) -> None:
        recorded: dict[str, str] = entry.setdefault("listings", {})
        missing = [listing for listing in listings if listing["title"] not in recorded]
        if not missing:
            return
        # A listing posted by a run that died before it recorded the answer is there already.
        recorded.update(await self._own_listings(entry["api_key"]))
        for listing in missing:
            if listing["title"] in recorded:
                continue
            response = await self.client.post(
                "/api/listings/listings/", json=listing, headers=_bearer(entry["api_key"])
            )
            self._expect(response, 201, f"post {listing['title']!r}")
            recorded[listing["title"]] = response.json()["id"]
            self.save()
        self.save()

    async def _own_listings(self, api_key: str) -> dict[str, str]:
        found: dict[str, str] = {}
        params = {"mine": "true", "limit": "200"}
        while True:
            page = await self.client.get(
                "/api/listings/listings/", params=params, headers=_bearer(api_key)
            )
            self._expect(page, 200, "read a demo company's listings")
            body = page.json()
            for listing in body["items"]:
                found.setdefault(listing["title"], listing["id"])
            if not body.get("next_cursor"):
                return found
            params["cursor"] = body["next_cursor"]

    async def _park_admin(self, wanted: dict[str, str]) -> None:
        admin: dict[str, str] | None = self.state.get(PARK_ADMIN_KEY)
        if admin is None or admin.get("email") != wanted["email"]:
            admin = {"email": wanted["email"], "password": secrets.token_urlsafe(12)}
            self.state[PARK_ADMIN_KEY] = admin
            self.save()
        if await self._sign_in(admin["email"], admin["password"]) is not None:
            return
        try:
            await create_park_admin(
                self.settings, admin["email"], wanted["name"], admin["password"]
            )
        except UserError as exc:
            raise DemoError(
                f"the park administrator {admin['email']} exists, but not with the password "
                f"kept in {self.path} ({exc}). `symbiosis up --reset-demo` loads the demo afresh."
            ) from None

    def _expect(self, response: httpx.Response, status: int, what: str) -> None:
        if response.status_code != status:
            raise DemoError(f"could not {what}: {response.status_code} {response.text[:500]}")


async def load_demo(
    settings: StackSettings,
    park: dict[str, Any] | None = None,
    *,
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
) -> dict[str, Any]:
    """Register the demo companies and post their listings, once per database, finishing
    what an interrupted earlier load left undone.

    The state, with every sign-in and key, is kept in ``<data_dir>/demo-keys.json``.
    """
    park = park or demo_park()
    path = keys_path(settings)
    async with httpx.AsyncClient(
        base_url=settings.gateway_url,
        timeout=30,
        transport=transport() if transport is not None else None,
    ) as client:
        loader = DemoLoader(settings, client, path)
        state = await loader.load(park)
    companies = [state[company["key"]] for company in park["companies"]]
    return {"companies": companies, "park_admin": state[PARK_ADMIN_KEY], "file": str(path)}
