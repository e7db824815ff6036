"""The inbox: every step of a trade reaches the right company, in its language, page by
page, and live over Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.support import Stack, eventually, register_company

pytestmark = pytest.mark.e2e

INBOX = "/api/notifications/inbox/"


def by_product(kind: str, price_nok: int) -> dict[str, Any]:
    # a resource class no other test trades
    return {
        "kind": kind,
        "resource_class": "liquid_biofuel",
        "title": "Glycerol from biodiesel",
        "quantity": "10",
        "unit": "t",
        "price_per_unit_ore": price_nok * 100,
    }


async def next_notification(lines: Any) -> dict[str, Any]:
    """The data of the next `notification` event of an SSE stream."""
    event = None
    async for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "notification":
            data: dict[str, Any] = json.loads(line.split(":", 1)[1])
            return data
    raise AssertionError("the stream ended")


async def test_a_counter_offer_arrives_live_in_the_other_sides_language(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    supplier = await register_company(client, "Biodiesel Raffineri AS")
    receiver = await register_company(client, "Glycerol Kjøper AS")
    await client.post(
        "/api/listings/listings/", json=by_product("offer", 100), headers=supplier["headers"]
    )
    await client.post(
        "/api/listings/listings/", json=by_product("need", 300), headers=receiver["headers"]
    )

    async def negotiation() -> dict[str, Any] | None:
        rows = (
            await client.get("/api/contracts/negotiations/", headers=receiver["headers"])
        ).json()
        return rows[0] if rows else None

    async def inbox(company: dict[str, Any], language: str) -> list[Any] | None:
        rows = (await client.get(f"{INBOX}?lang={language}", headers=company["headers"])).json()
        return rows or None

    nid = (await eventually(negotiation))["id"]
    await eventually(lambda: inbox(supplier, "en"))

    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=30) as live,
        live.stream("GET", f"{INBOX}stream?lang=nb", headers=supplier["headers"]) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        first = [await anext(lines) for _ in range(2)]
        assert first[0] == "event: unread" and first[1] == "data: 1"
        counter = {"quantity": "8", "unit": "t", "price_per_unit_ore": 15050}
        answered = await client.post(
            f"/api/contracts/negotiations/{nid}/counter",
            json=counter,
            headers=receiver["headers"],
        )
        assert answered.status_code == 200
        note = await asyncio.wait_for(next_notification(lines), 20)
    assert note["event_type"] == "negotiation.countered" and note["language"] == "nb"
    assert note["title"] == "Motbud: Glycerol from biodiesel"
    assert "8 t til kr 150,50 per t" in note["body"]
    assert note["link"] == f"/negotiations/{nid}"

    # in English when asked, by parameter or by Accept-Language
    english = (
        await client.get(
            INBOX, headers={**supplier["headers"], "Accept-Language": "en-GB,en;q=0.8"}
        )
    ).json()
    assert english[0]["title"] == "Counter-offer: Glycerol from biodiesel"
    assert (await client.get(f"{INBOX}?lang=de", headers=supplier["headers"])).status_code == 400
    # the receiver, who countered, is not told of its own counter-offer
    theirs = await inbox(receiver, "en")
    assert theirs is not None and all(e["event_type"] != "negotiation.countered" for e in theirs)

    # pages: unread first, newest first, each note once; the cursor is checked
    first_page = await client.get(f"{INBOX}?limit=1&lang=en", headers=supplier["headers"])
    assert first_page.headers["x-unread-count"] == "2"
    cursor = first_page.headers["x-next-cursor"]
    assert 'rel="next"' in first_page.headers["link"]
    second_page = await client.get(
        f"{INBOX}?limit=1&lang=en&cursor={cursor}", headers=supplier["headers"]
    )
    pages = [*first_page.json(), *second_page.json()]
    assert [e["event_type"] for e in pages] == ["negotiation.countered", "trade.proposed"]
    assert "x-next-cursor" not in second_page.headers
    bad = await client.get(f"{INBOX}?cursor=bm9wZQ", headers=supplier["headers"])
    assert bad.status_code == 400
    newest = pages[0]["id"]
    assert (
        await client.post(f"{INBOX}{newest}/read", headers=supplier["headers"])
    ).status_code == 200
    reordered = (await client.get(f"{INBOX}?lang=en", headers=supplier["headers"])).json()
    assert [e["event_type"] for e in reordered] == ["trade.proposed", "negotiation.countered"]


async def test_a_listing_about_to_end_is_announced_to_its_company_once(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    owner = await register_company(client, "Kalkbrudd AS")
    other = await register_company(client, "Naboen AS")
    ends = date.today() + timedelta(days=2)
    posted = await client.post(
        "/api/listings/listings/",
        json={
            **by_product("offer", 50),
            "title": "Lime fines",
            "available_until": ends.isoformat(),
        },
        headers=owner["headers"],
    )
    assert posted.status_code == 201, posted.text
    listing_id = posted.json()["id"]

    async def ending_notes() -> list[dict[str, Any]] | None:
        page = (
            await client.get(INBOX, headers={**owner["headers"], "accept-language": "en"})
        ).json()
        notes = [n for n in page if n["event_type"] == "listing.expiring"]
        return notes or None

    (note,) = await eventually(ending_notes, timeout=60)
    assert note["title"] == "Ending soon: Lime fines"
    assert f"open until {ends.isoformat()} (in 2 days)" in note["body"]
    assert note["link"].endswith(f"/listings/{listing_id}")
    # the check runs every second: a few more rounds announce nothing new
    await asyncio.sleep(3)
    assert len(await ending_notes() or []) == 1
    others = (await client.get(INBOX, headers=other["headers"])).json()
    assert not [n for n in others if n["event_type"] == "listing.expiring"]
