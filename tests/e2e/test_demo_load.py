"""Loading the demo can be cut off at any request and finished by the next load (issue 20).

Each case cuts a fresh copy of part of the demo park (its own organisation numbers and
e-mails) off at one request, either before the request leaves or after the exchange has
answered it but before the loader saw the answer (the window a Ctrl-C or a kill of
`symbiosis up` hits), then loads it again on the same stack and checks that the park is
whole: every company once, every listing once, every sign-in and key working.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from symbiosis.config import StackSettings
from symbiosis.demo import DemoError, demo_park, load_demo
from tests.support import Stack, org_number

pytestmark = pytest.mark.e2e


class Interrupted(Exception):
    """The loader's process is gone at this point."""


class CutOff(httpx.AsyncBaseTransport):
    """The real transport, cut at request number ``at``: before it is sent, or after the
    exchange has answered it and before the answer reaches the loader."""

    def __init__(self, at: int, when: Literal["before", "after"]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.at = at
        self.when = when
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        if self.sent == self.at and self.when == "before":
            raise Interrupted
        response = await self.inner.handle_async_request(request)
        if self.sent == self.at and self.when == "after":
            await response.aread()
            raise Interrupted
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def small_park() -> dict[str, Any]:
    """The sawmill and the bioenergy plant of the demo, as companies nobody registered yet."""
    park = copy.deepcopy(demo_park())
    keep = {"sagbruk", "bioenergi"}
    tag = uuid.uuid4().hex[:8]
    park["companies"] = [c for c in park["companies"] if c["key"] in keep]
    for company in park["companies"]:
        company["org_number"] = org_number()
        company["admin"]["email"] = f"{tag}.{company['admin']['email']}"
    listings = [item for item in park["listings"] if item["company"] in keep]
    # three listings: two of the sawmill's, one of the plant's
    park["listings"] = [item for item in listings if item["company"] == "sagbruk"][:2] + [
        item for item in listings if item["company"] == "bioenergi"
    ][:1]
    park["park_admin"] = {"name": "Park administrator", "email": f"{tag}.admin@vikenpark.example"}
    return park


def settings_for(stack: Stack, data_dir: Path) -> StackSettings:
    return StackSettings(
        data_dir=data_dir,
        public_url=stack.url,
        database_url=stack.env["SYMBIOSIS_DATABASE_URL"],
    )


async def requests_of_a_whole_load(stack: Stack, tmp_path: Path) -> int:
    counter = CutOff(at=0, when="before")
    await load_demo(
        settings_for(stack, tmp_path / "count"), small_park(), transport=lambda: counter
    )
    return counter.sent


async def assert_whole(stack: Stack, park: dict[str, Any], data_dir: Path) -> None:
    state = json.loads((data_dir / "demo-keys.json").read_text())
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as client:
        for company in park["companies"]:
            entry = state[company["key"]]
            key = {"Authorization": f"Bearer {entry['api_key']}"}
            me = await client.get("/api/listings/companies/me", headers=key)
            assert me.status_code == 200 and me.json()["org_number"] == company["org_number"]
            admin = entry["admin"]
            signed_in = await client.post(
                "/api/listings/auth/token",
                json={"email": admin["email"], "password": admin["password"]},
            )
            assert signed_in.status_code == 200, signed_in.text
            again = await client.post(
                "/api/listings/companies/",
                json={"name": company["name"], "org_number": company["org_number"]},
            )
            assert again.status_code == 409  # registered, and only once
            mine = await client.get("/api/listings/listings/", params={"mine": "true"}, headers=key)
            titles = sorted(item["title"] for item in mine.json()["items"])
            expected = sorted(
                i["title"] for i in park["listings"] if i["company"] == company["key"]
            )
            assert titles == expected  # each listing once
            assert sorted(entry["listings"]) == expected
        park_admin = await client.post("/api/listings/auth/token", json=state["park_admin"])
        assert park_admin.status_code == 200, park_admin.text


async def test_a_load_cut_off_at_any_request_is_finished_by_the_next(
    stack: Stack, tmp_path: Path
) -> None:
    total = await requests_of_a_whole_load(stack, tmp_path)
    assert total >= 8  # two registrations, two lookups, three listings, the park admin
    for at in range(1, total + 1):
        for when in ("before", "after"):
            park = small_park()
            data_dir = tmp_path / f"cut-{at}-{when}"
            settings = settings_for(stack, data_dir)
            with pytest.raises(Interrupted):
                await load_demo(settings, park, transport=lambda: CutOff(at, when))  # noqa: B023
            loaded = await load_demo(settings, park)
            assert [c["name"] for c in loaded["companies"]] == [
                c["name"] for c in park["companies"]
            ]
            await assert_whole(stack, park, data_dir)


async def test_a_second_load_of_a_whole_demo_changes_nothing(stack: Stack, tmp_path: Path) -> None:
    park = small_park()
    settings = settings_for(stack, tmp_path)
    first = await load_demo(settings, park)
    kept = (tmp_path / "demo-keys.json").read_text()
    second = await load_demo(settings, park)
    assert second == first
    assert (tmp_path / "demo-keys.json").read_text() == kept
    assert (tmp_path / "demo-keys.json").stat().st_mode & 0o777 == 0o600
    await assert_whole(stack, park, tmp_path)


async def test_a_lost_keys_file_is_explained_not_a_traceback(stack: Stack, tmp_path: Path) -> None:
    park = small_park()
    await load_demo(settings_for(stack, tmp_path / "first"), park)
    # the same companies, but their sign-ins are gone with the first folder
    with pytest.raises(DemoError, match=r"--reset-demo"):
        await load_demo(settings_for(stack, tmp_path / "second"), park)
