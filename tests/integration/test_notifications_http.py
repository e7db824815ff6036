"""The notifications service's inbox and webhook endpoints over HTTP, on a real PostgreSQL:
what their answers are made of (the storage modules' typed rows) from registration to the
delivery log, and the inbox page by page in both languages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.listings.config import ListingsSettings
from services.notifications.api import InboxController
from services.notifications.config import NotificationsSettings
from services.notifications.domain import Note, Text
from services.notifications.storage import inbox as inbox_store
from services.notifications.storage import webhooks as webhook_store
from services.notifications.webhooks import WebhookEndpointController
from shared.auth import (
    ensure_signing_keys,
    issue_api_key,
    load_private_key,
)
from shared.db import Pool
from shared.settings import Settings
from tests.support import migrated_pool, service_client


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


@pytest.fixture
def keys(tmp_path: Path) -> ListingsSettings:
    keys = ListingsSettings(data_dir=tmp_path)
    ensure_signing_keys(keys)
    return keys


@pytest.fixture
async def client(
    pool: Pool, database_url: str, settings: Settings, keys: ListingsSettings
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    own = NotificationsSettings(**settings.model_dump() | {"webhook_allowed_hosts": "127.0.0.1"})

    async with service_client([InboxController, WebhookEndpointController], own, keys) as running:
        yield running


def admin_of(keys: ListingsSettings, company: uuid.UUID) -> dict[str, str]:
    key = issue_api_key(load_private_key(keys.private_key_path), uuid.uuid4(), company, "admin")
    return {"Authorization": f"Bearer {key}"}


async def test_an_endpoint_is_registered_changed_paused_rotated_logged_and_deleted(
    client: AsyncTestClient[Litestar], pool: Pool, keys: ListingsSettings
) -> None:
    company = uuid.uuid4()
    headers = admin_of(keys, company)
    created = await client.post(
        "/webhooks/endpoints/",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["trade.proposed"]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["status"] == "active"
    assert hook["company_id"] == str(company) and hook["previous_secret_valid_until"] is None
    path = f"/webhooks/endpoints/{hook['id']}"

    listed = (await client.get("/webhooks/endpoints/", headers=headers)).json()
    assert [e["id"] for e in listed] == [hook["id"]] and "secret" not in listed[0]
    changed = await client.patch(path, json={"description": "ERP"}, headers=headers)
    assert changed.json()["description"] == "ERP"
    assert changed.json()["event_types"] == ["trade.proposed"]
    paused = (await client.post(f"{path}/pause", headers=headers)).json()
    assert (paused["status"], paused["paused_reason"]) == ("paused", "paused by you")
    resumed = (await client.post(f"{path}/resume", headers=headers)).json()
    assert (resumed["status"], resumed["paused_reason"]) == ("active", None)
    rotated = (await client.post(f"{path}/rotate-secret", headers=headers)).json()
    assert rotated["secret"] != hook["secret"]
    assert rotated["previous_secret_valid_until"] is not None
    other = admin_of(keys, uuid.uuid4())
    assert (await client.get(path, headers=other)).status_code == 404

    # two deliveries, the newer with two attempts: the log, newest first, page by page
    endpoint_id = uuid.UUID(hook["id"])
    older, newer = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        for delivery in (older, newer):
            await webhook_store.add_deliveries(
                conn, uuid.uuid4(), "trade.proposed", b"{}", [(delivery, endpoint_id)]
            )
        for status_code, error in ((503, "HTTP 503"), (200, None)):
            number = await webhook_store.start_attempt(conn, newer)
            await webhook_store.finish_attempt(conn, newer, number, 12, status_code, error)
        await webhook_store.mark_delivered(conn, newer)
    await pool.execute(
        "UPDATE webhook_deliveries SET created_at = created_at - interval '1 minute' WHERE id = $1",
        older,
    )
    first = await client.get(f"{path}/deliveries", params={"limit": 1}, headers=headers)
    assert first.status_code == 200, first.text
    [delivered] = first.json()
    assert (delivered["id"], delivered["status"]) == (str(newer), "delivered")
    assert delivered["next_attempt_at"] is None and delivered["completed_at"] is not None
    assert [(a["number"], a["status_code"], a["error"]) for a in delivered["attempts"]] == [
        (2, 200, None),
        (1, 503, "HTTP 503"),
    ]
    second = await client.get(
        f"{path}/deliveries",
        params={"limit": 1, "cursor": first.headers["x-next-cursor"]},
        headers=headers,
    )
    [pending] = second.json()
    assert (pending["id"], pending["status"], pending["attempts"]) == (str(older), "pending", [])
    assert pending["next_attempt_at"] is not None and "x-next-cursor" not in second.headers

    assert (await client.delete(path, headers=headers)).status_code == 204
    assert (await client.get(path, headers=headers)).status_code == 404


async def test_the_inbox_is_paged_unread_first_and_read_in_either_language(
    client: AsyncTestClient[Litestar], pool: Pool, keys: ListingsSettings
) -> None:
    company = uuid.uuid4()
    headers = admin_of(keys, company)
    notes = [
        Note(
            id=uuid.uuid4(),
            company_id=company,
            title=Text(nb=f"Tittel {n}", en=f"Title {n}"),
            body=Text(nb=f"Tekst {n}", en=f"Text {n}"),
            link=f"/contracts/{n}",
        )
        for n in range(3)
    ]
    async with pool.acquire() as conn:
        for note in notes:
            await inbox_store.add_note(conn, note, uuid.uuid4(), "contract.agreed", "s")
    read = await client.post(f"/inbox/{notes[2].id}/read", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None and read.json()["title"] == "Tittel 2"

    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2, "lang": "en"}
    while True:
        page = await client.get("/inbox/", params=params, headers=headers)
        assert page.status_code == 200, page.text
        assert page.headers["x-unread-count"] == "2"
        seen += page.json()
        if "x-next-cursor" not in page.headers:
            break
        params["cursor"] = page.headers["x-next-cursor"]
    # unread first, newest first; the read one last
    assert [e["title"] for e in seen] == ["Title 1", "Title 0", "Title 2"]
    assert {(e["language"], e["event_type"], e["subject_id"]) for e in seen} == {
        ("en", "contract.agreed", "s")
    }
    assert seen[0]["link"] == "/contracts/1" and seen[0]["body"] == "Text 1"
    elsewhere = admin_of(keys, uuid.uuid4())
    assert (await client.post(f"/inbox/{notes[0].id}/read", headers=elsewhere)).status_code == 404
