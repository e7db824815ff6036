"""A password is hashed only for a request that can keep it, over HTTP on a real
PostgreSQL: argon2 costs a core a third of a second, which nobody may make the exchange
spend on public endpoints with made-up tokens or numbers already taken. Accepting an
invitation refuses an unknown, used or expired token first; registering a company refuses
an organisation number already registered first."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from services.listings import accounts, storage
from services.listings.accounts import CompanyController, PeopleController
from services.listings.config import ListingsSettings
from shared.auth import ensure_signing_keys, load_private_key
from shared.db import Pool
from shared.settings import Settings
from tests.support import migrated_pool, org_number, service_client

PASSWORD = "a long enough passphrase"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "listings") as pool:
        yield pool


@pytest.fixture
async def client(
    pool: Pool, settings: Settings, tmp_path: Path
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    keys = ListingsSettings(data_dir=tmp_path)
    ensure_signing_keys(keys)
    own = ListingsSettings(**settings.model_dump())
    signing_key = load_private_key(keys.private_key_path)

    signing = {"signing_key": Provide(lambda: signing_key, sync_to_thread=False)}

    class People(PeopleController):  # the key the service's app provides to its handlers
        dependencies = signing

    class Companies(CompanyController):
        dependencies = signing

    async with service_client([People, Companies], own, keys) as running:
        yield running


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords hashed while the test runs."""
    passwords: list[str] = []
    real = accounts.hash_password

    async def counting(password: str) -> str:
        passwords.append(password)
        return await real(password)

    monkeypatch.setattr(accounts, "hash_password", counting)
    return passwords


async def invited(pool: Pool, expires_in: timedelta) -> str:
    """A person invited to a new company; the invitation's token."""
    token = secrets.token_urlsafe(32)
    company = uuid.uuid4()
    async with pool.acquire() as conn:
        await storage.insert_company(conn, company, org_number(), {"name": "Invitert AS"})
        await storage.insert_person(
            conn,
            person_id=uuid.uuid4(),
            company_id=company,
            email=f"invited-{uuid.uuid4().hex[:8]}@example.no",
            name="Kari Invitert",
            role="member",
            invitation_hash=accounts._digest(token),
            invitation_expires_at=datetime.now(UTC) + expires_in,
        )
    return token


def refused(answer: httpx.Response) -> bool:
    codes = [e["code"] for e in answer.json().get("errors", [])]
    return answer.status_code == 400 and codes == ["person.invitation_invalid"]


ACCEPT = "/people/accept-invitation"


async def test_an_unknown_token_is_refused_without_hashing_the_password(
    client: AsyncTestClient[Litestar], hashed: list[str]
) -> None:
    answer = await client.post(
        ACCEPT, json={"token": secrets.token_urlsafe(32), "password": PASSWORD}
    )
    assert refused(answer), answer.text
    assert hashed == []


async def test_an_expired_invitation_is_refused_without_hashing_the_password(
    client: AsyncTestClient[Litestar], pool: Pool, hashed: list[str]
) -> None:
    token = await invited(pool, timedelta(minutes=-1))
    answer = await client.post(ACCEPT, json={"token": token, "password": PASSWORD})
    assert refused(answer), answer.text
    assert hashed == []


async def test_an_invitation_is_accepted_once_and_then_refused_without_hashing(
    client: AsyncTestClient[Litestar], pool: Pool, hashed: list[str]
) -> None:
    token = await invited(pool, timedelta(days=1))
    accepted = await client.post(ACCEPT, json={"token": token, "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    assert hashed == [PASSWORD]
    again = await client.post(ACCEPT, json={"token": token, "password": "another passphrase"})
    assert refused(again), again.text
    assert hashed == [PASSWORD]


async def test_a_company_already_registered_is_refused_without_hashing_the_password(
    client: AsyncTestClient[Litestar], pool: Pool, hashed: list[str]
) -> None:
    number = org_number()
    registration = {
        "name": "Dobbel AS",
        "org_number": number,
        "admin": {
            "email": f"first-{uuid.uuid4().hex[:8]}@example.no",
            "name": "Kari",
            "password": PASSWORD,
        },
    }
    first = await client.post("/companies/", json=registration)
    assert first.status_code == 201, first.text
    assert hashed == [PASSWORD]
    again = {**registration, "admin": {**registration["admin"], "password": "another one!!"}}
    answer = await client.post("/companies/", json=again)
    assert answer.status_code == 409, answer.text
    assert [e["code"] for e in answer.json()["errors"]] == ["company.org_number_taken"]
    assert hashed == [PASSWORD]
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM companies WHERE org_number = $1", number) == 1
        )
