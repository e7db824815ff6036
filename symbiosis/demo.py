"""Loads the Viken Park demo park through the public HTTP API, as a user would: each
company with its first administrator (a person who signs in to the portal and gets the
company's e-mails), its profile and its listings."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings
from symbiosis.admins import create_park_admin

DEMO_FILE = Path(__file__).parent / "data" / "viken-park-demo.json"
PARK_ADMIN_KEY = "park_admin"
PARK_ADMIN_EMAIL = "admin@vikenpark.example"


class DemoError(RuntimeError):
    """The demo could not be loaded; the message says why."""


async def load_demo(settings: Settings) -> dict[str, Any]:
    """Register the demo companies and post their listings, once per database.

    The keys are written to ``<data_dir>/demo-keys.json`` and reused on later runs.
    """
    park = json.loads(DEMO_FILE.read_text())
    keys_file = settings.data_dir.resolve() / "demo-keys.json"
    saved: dict[str, Any] = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as client:
        companies: list[dict[str, Any]] = []
        fresh: set[str] = set()
        for company in park["companies"]:
            first = {**company["admin"], "password": secrets.token_urlsafe(12)}
            admin: dict[str, Any] | None = first
            response = await client.post(
                "/api/listings/companies/",
                json={
                    "name": company["name"],
                    "org_number": company["org_number"],
                    **company.get("profile", {}),
                    "contact": {"name": first["name"], "email": first["email"]},
                    "admin": first,
                },
            )
            if response.status_code == 201:
                api_key = response.json()["api_key"]
                fresh.add(company["key"])
            elif response.status_code == 409 and company["key"] in saved:
                api_key = saved[company["key"]]["api_key"]
                # kept from the first run (a demo loaded by an older version has none)
                admin = saved[company["key"]].get("admin")
            else:
                raise DemoError(
                    f"could not register {company['name']}: {response.status_code} "
                    f"{response.text}. If the demo keys file is lost, remove "
                    f"{settings.data_dir / 'postgres'} to start the demo afresh."
                )
            companies.append({**company, "api_key": api_key, "admin": admin})
        by_key = {c["key"]: c for c in companies}
        for listing in park["listings"]:
            owner = by_key[listing["company"]]
            if owner["key"] not in fresh:
                continue  # posted when this company was registered
            body = {k: v for k, v in listing.items() if k != "company"}
            response = await client.post(
                "/api/listings/listings/",
                json=body,
                headers={"Authorization": f"Bearer {owner['api_key']}"},
            )
            if response.status_code != 201:
                raise DemoError(f"could not post {listing['title']}: {response.text}")
    park_admin: dict[str, Any] | None = saved.get(PARK_ADMIN_KEY)
    if park_admin is None:
        park_admin = {"email": PARK_ADMIN_EMAIL, "password": secrets.token_urlsafe(12)}
        await create_park_admin(
            settings, PARK_ADMIN_EMAIL, "Viken Park administrator", park_admin["password"]
        )
    content = {**{c["key"]: c for c in companies}, PARK_ADMIN_KEY: park_admin}
    keys_file.write_text(json.dumps(content, indent=2, ensure_ascii=False))
    keys_file.chmod(0o600)
    return {"companies": companies, "park_admin": park_admin, "file": str(keys_file)}
