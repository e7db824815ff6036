"""Partners on Kafka (issue 12, part 3), on the real stack and the real broker (SASL/SCRAM,
ACLs): a park administrator issues a partner credentials; the documented example client
(examples/partner_client.py) reads the partner stream with them, and sees what partners
may see and nothing else; once revoked, the partner is cut off within seconds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.events import Topic
from tests.e2e.test_accounts import PASSWORD, bearer, create_park_admin, sign_in, unique_email
from tests.support import REPO, Stack, eventually, register_company

pytestmark = pytest.mark.e2e

CLIENT = REPO / "examples" / "partner_client.py"
# Far from every other test's listings on the shared stack, and of resources no other test
# trades, so that none is proposed to them.
FAR_AWAY = {"latitude": -46.4, "longitude": 168.35}


async def park_admin(client: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    email = unique_email("partners-admin")
    assert create_park_admin(stack, email, PASSWORD).returncode == 0
    return bearer(await sign_in(client, email, PASSWORD))


def run_client(
    credential: dict[str, Any], *extra: str, timeout: float = 90
) -> tuple[int, str, str]:
    result = subprocess.run(
        [
            sys.executable,
            str(CLIENT),
            "--bootstrap",
            credential["bootstrap_servers"],
            "--username",
            credential["username"],
            "--topic",
            credential["topics"][0],
            "--security-protocol",
            credential["security_protocol"],
            *extra,
        ],
        env={"PARTNER_PASSWORD": credential["password"], "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    return result.returncode, result.stdout, result.stderr


def sasl(credential: dict[str, Any]) -> dict[str, Any]:
    return {
        "bootstrap_servers": credential["bootstrap_servers"],
        "security_protocol": credential["security_protocol"],
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": credential["username"],
        "sasl_plain_password": credential["password"],
    }


async def test_a_partner_reads_what_partners_may_see_until_it_is_revoked(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    admin = await park_admin(client, stack)
    # A company that shares its terms with partners, and one that does not.
    sharing = await register_company(client, "Open Books Sagbruk AS")
    shared_profile = await client.patch(
        "/api/listings/companies/me",
        json={"share_terms_with_partners": True},
        headers=sharing["headers"],
    )
    assert shared_profile.status_code == 200 and shared_profile.json()["share_terms_with_partners"]
    private = await register_company(client, "Closed Books Varme AS")
    # Only a park administrator issues credentials.
    refused = await client.post(
        "/api/listings/partner-credentials/", json={"label": "Nope"}, headers=sharing["headers"]
    )
    assert refused.status_code == 403
    issued = await client.post(
        "/api/listings/partner-credentials/",
        json={"label": "Østfold Transport AS"},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    credential = issued.json()
    assert credential["username"].startswith(stack.namespace + "partner-stfold-transport-as-")
    assert credential["topics"] == [stack.namespace + Topic.PARTNERS]
    listed = (await client.get("/api/listings/partner-credentials/", headers=admin)).json()
    mine = [c for c in listed if c["id"] == credential["id"]]
    assert mine and "password" not in mine[0]

    # The partner feed decides a listing's price from the company's sharing as the
    # notifications service knows it from company.changed, which travels on another
    # partition than the listing's events, so a listing posted at once may be read first and
    # shown without its price (a race of the product, found in CI on 2026-12-02; the fix is
    # to carry the company's sharing in the listing's event). The listings are posted once
    # the feed has published the sharing.
    async def sharing_known() -> bool:
        code, out, err = await asyncio.to_thread(
            run_client, credential, "--from-beginning", "--idle-seconds", "3", "--group", "sharing"
        )
        assert code == 0, err
        return any(
            e["type"] == "company.changed"
            and e["subject"] == sharing["company"]["id"]
            and e["data"]["share_terms_with_partners"]
            for e in map(json.loads, out.splitlines())
        )

    await eventually(sharing_known, timeout=60, interval=1)

    offer = await client.post(
        "/api/listings/listings/",
        json={
            "kind": "offer",
            "ewc_code": "090107",
            "title": "Partner-visible photographic film",
            "quantity": "30",
            "unit": "t",
            "price_per_unit_ore": 9000,
            "location": FAR_AWAY,
        },
        headers=sharing["headers"],
    )
    need = await client.post(
        "/api/listings/listings/",
        json={
            "kind": "need",
            "ewc_code": "090108",
            "title": "Film free of silver, for a private recycler",
            "quantity": "20",
            "unit": "t",
            "price_per_unit_ore": 11000,
            "location": FAR_AWAY,
        },
        headers=private["headers"],
    )
    assert offer.status_code == need.status_code == 201, (offer.text, need.text)

    # The documented client reads the partner stream with them.
    async def both_listings_seen() -> dict[str, dict[str, Any]] | None:
        code, out, err = await asyncio.to_thread(
            run_client, credential, "--from-beginning", "--idle-seconds", "3", "--group", "check"
        )
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        by_subject = {
            e["subject"]: e
            for e in events
            if e["type"] == "listing.published"
            and e["subject"] in (offer.json()["id"], need.json()["id"])
        }
        companies = {e["subject"] for e in events if e["type"] == "company.changed"}
        if (
            len(by_subject) == 2
            and {sharing["company"]["id"], private["company"]["id"]} <= companies
        ):
            return by_subject | {"_all": {"events": events}}
        return None

    seen = await eventually(both_listings_seen, timeout=60, interval=1)
    # prices only where the company shares them
    assert seen[offer.json()["id"]]["data"]["price_per_unit_ore"] == 9000
    assert seen[need.json()["id"]]["data"]["price_per_unit_ore"] is None
    # never people, proposals, negotiations or invoices
    kinds = {e["type"] for e in seen["_all"]["events"]}
    assert kinds <= {
        "company.changed",
        "listing.published",
        "listing.updated",
        "listing.withdrawn",
        "contract.agreed",
        "contract.cancelled",
        "delivery.recorded",
        "delivery.confirmed",
        "delivery.disputed",
    }, kinds
    text = json.dumps(seen["_all"]["events"])
    assert "@" not in text  # no e-mail address of anyone

    # A partner never writes, reads no other topic and joins no other group.
    producer = AIOKafkaProducer(**sasl(credential), request_timeout_ms=5000)
    await producer.start()
    try:
        with pytest.raises(KafkaError):
            await asyncio.wait_for(
                producer.send_and_wait(credential["topics"][0], b"{}", key=b"x"), 15
            )
    finally:
        await producer.stop()
    for topic, group in (
        (stack.namespace + Topic.LISTINGS, credential["group_prefix"] + "spy"),
        (credential["topics"][0], "someone-else"),
    ):
        spy = AIOKafkaConsumer(
            topic, group_id=group, auto_offset_reset="earliest", **sasl(credential)
        )
        try:
            with pytest.raises(KafkaError):
                await asyncio.wait_for(spy.start(), 30)
                await asyncio.wait_for(spy.getmany(timeout_ms=5000), 15)
                await asyncio.wait_for(spy.getmany(timeout_ms=5000), 15)
        finally:
            await spy.stop()

    # Revoked while a consumer is connected: it is cut off within seconds, and cannot
    # sign in again.
    live = AIOKafkaConsumer(
        credential["topics"][0],
        group_id=credential["group_prefix"] + "live",
        auto_offset_reset="earliest",
        **sasl(credential),
    )
    await live.start()
    try:
        assert await live.getmany(timeout_ms=5000) is not None
        revoked = await client.delete(
            f"/api/listings/partner-credentials/{credential['id']}", headers=admin
        )
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        cut_at = time.monotonic()
        with pytest.raises(KafkaError):
            while time.monotonic() - cut_at < 30:
                await live.getmany(timeout_ms=1000)
        assert time.monotonic() - cut_at < 15
    finally:
        await live.stop()
    code, _, err = await asyncio.to_thread(
        run_client, credential, "--from-beginning", "--idle-seconds", "3", timeout=60
    )
    assert code == 2, err
    again = await client.delete(
        f"/api/listings/partner-credentials/{credential['id']}", headers=admin
    )
    assert again.status_code == 200  # harmless


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(
    stack: Stack,
) -> None:
    bootstrap = stack.env["SYMBIOSIS_KAFKA_BOOTSTRAP_SERVERS"]
    anonymous = AIOKafkaConsumer(
        stack.namespace + Topic.CONTRACTS, bootstrap_servers=bootstrap, request_timeout_ms=5000
    )
    with pytest.raises(KafkaError):
        await asyncio.wait_for(anonymous.start(), 30)
    await anonymous.stop()
    wrong = AIOKafkaConsumer(
        stack.namespace + Topic.CONTRACTS,
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=stack.namespace + "notifications",
        sasl_plain_password="not its password",
        request_timeout_ms=5000,
    )
    with pytest.raises(KafkaError):
        await asyncio.wait_for(wrong.start(), 30)
    await wrong.stop()
