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
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.events import (
    ContractAgreed,
    Envelope,
    ListingPublished,
    PartnerSharing,
    Payload,
    Terms,
    Topic,
)
from tests.e2e.test_accounts import PASSWORD, bearer, make_park_admin, sign_in, unique_email
from tests.events import company_changed, listing_published
from tests.support import (
    REPO,
    Infra,
    Stack,
    eventually,
    produce,
    read_topic,
    register_company,
)

pytestmark = pytest.mark.e2e

CLIENT = REPO / "examples" / "partner_client.py"
# Far from every other test's listings on the shared stack, and of resources no other test
# trades, so that none is proposed to them.
FAR_AWAY = {"latitude": -46.4, "longitude": 168.35}
# Far from those too: the racing test's listings, written straight to the broker.
RACING = {"latitude": -54.8, "longitude": -68.3}


async def park_admin(client: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    email = unique_email("partners-admin")
    make_park_admin(stack, email, PASSWORD)
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

    # At once: the partner feed reads company.changed and the listings' events on different
    # partitions, and a listing read before the change still shows its price (its event
    # carries its company's sharing).
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
    assert seen[offer.json()["id"]]["data"]["share_terms_with_partners"] is True
    assert seen[need.json()["id"]]["data"]["price_per_unit_ore"] is None
    assert seen[need.json()["id"]]["data"]["share_terms_with_partners"] is False

    # The company stops sharing and changes its price at once: partners never see the new one.
    stopped = await client.patch(
        "/api/listings/companies/me",
        json={"share_terms_with_partners": False},
        headers=sharing["headers"],
    )
    assert stopped.status_code == 200, stopped.text
    repriced = await client.patch(
        f"/api/listings/listings/{offer.json()['id']}",
        json={"price_per_unit_ore": 9500},
        headers=sharing["headers"],
    )
    assert repriced.status_code == 200, repriced.text

    async def repriced_seen() -> list[dict[str, Any]]:
        code, out, err = await asyncio.to_thread(
            run_client, credential, "--from-beginning", "--idle-seconds", "3", "--group", "reprice"
        )
        assert code == 0, err
        return [
            e
            for e in map(json.loads, out.splitlines())
            if e["type"] == "listing.updated" and e["subject"] == offer.json()["id"]
        ]

    (update,) = await eventually(repriced_seen, timeout=60, interval=1)
    assert update["data"]["price_per_unit_ore"] is None
    assert update["data"]["share_terms_with_partners"] is False
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


async def test_the_partner_stream_goes_by_each_events_own_sharing_in_the_racing_order(
    infra: Infra, stack: Stack
) -> None:
    """The orders that raced, written straight to the real broker for the stack's partner
    feed: a listing made after its company began sharing, read before that change; one made
    after its company stopped, read before that change; a contract agreed after both
    companies began sharing, read before either change. The feed reads each event while it
    knows only the companies' earlier state (the changes are never sent)."""
    listings, contracts = stack.namespace + Topic.LISTINGS, stack.namespace + Topic.CONTRACTS
    partners = stack.namespace + Topic.PARTNERS
    now = datetime.now(UTC)
    earlier = now - timedelta(minutes=5)
    began, stopped, supplier, receiver = (uuid.uuid4() for _ in range(4))

    async def send(topic: str, payload: Payload, subject: uuid.UUID) -> Envelope:
        event = Envelope.wrap(payload, source="/tests", subject=subject)
        await produce(infra, topic, event.to_bytes(), str(subject).encode())
        return event

    def offer(company_id: uuid.UUID, shares: bool) -> ListingPublished:
        return listing_published(
            company_id,
            ewc_code="090107",
            title="Racing photographic film",
            quantity=Decimal(30),
            latitude=RACING["latitude"],
            longitude=RACING["longitude"],
            published_at=now,
            share_terms_with_partners=shares,
        )

    async def partner_events(*subjects: uuid.UUID) -> dict[str, dict[str, Any]] | None:
        records = await read_topic(infra, partners, timeout=10)
        events = {event["subject"]: event for event in (json.loads(r.value) for r in records)}
        found = {str(s): events[str(s)] for s in subjects if str(s) in events}
        return found if len(found) == len(subjects) else None

    # Every company as the feed knew it before: the one that stops shares; the others do not.
    for company_id, shares in (
        (began, False),
        (stopped, True),
        (supplier, False),
        (receiver, False),
    ):
        changed = company_changed(company_id, shares, earlier, name="Racing Sagbruk AS")
        await send(listings, changed, company_id)
    await eventually(lambda: partner_events(began, stopped, supplier, receiver), timeout=60)

    shown = offer(began, True)
    hidden = offer(stopped, False)
    for listing in (shown, hidden):
        await send(listings, listing, listing.listing_id)
    agreed = ContractAgreed(
        contract_id=uuid.uuid4(),
        offer_id=uuid.uuid4(),
        need_id=uuid.uuid4(),
        supplier_company_id=supplier,
        receiver_company_id=receiver,
        quantity=Decimal(5),
        unit="t",
        price_per_unit_ore=12000,
        agreed_at=now,
        terms=Terms(quantity=Decimal(5), unit="t", price_per_unit_ore=12000),
        supplier_sharing=PartnerSharing(share_terms_with_partners=True, changed_at=now),
        receiver_sharing=PartnerSharing(share_terms_with_partners=True, changed_at=now),
    )
    await send(contracts, agreed, agreed.contract_id)
    seen = await eventually(
        lambda: partner_events(shown.listing_id, hidden.listing_id, agreed.contract_id),
        timeout=60,
    )
    assert seen[str(shown.listing_id)]["data"]["price_per_unit_ore"] == 9000
    assert seen[str(hidden.listing_id)]["data"]["price_per_unit_ore"] is None
    contract = seen[str(agreed.contract_id)]["data"]
    assert contract["price_per_unit_ore"] == 12000 and contract["terms"] is not None


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
