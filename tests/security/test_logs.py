"""Logs never hold secrets or request bodies (issue 15, finding 4): tracebacks were logged
with their local variables, so one registration with a NUL byte in the name put the
password in listings.log twice, and each 500 wrote 40-56 KB.

Also the logging of issue 14 that this rests on: configured once, JSON lines off a
terminal, the level honoured, access logs without query strings."""

from __future__ import annotations

import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from shared.logs import AccessLog, configure_logging, redact_text
from tests.conftest import STRIPE_API_KEY, WEBHOOK_SECRET
from tests.security.probes import bearer, company_with_admin
from tests.support import Stack, org_number, stripe_signature

TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NSIsInR5cCI6ImFjY2VzcyJ9.c2lnbmF0dXJlc2lnbmF0dXJl"


@pytest.fixture
def written() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream, process="test")
    yield stream
    configure_logging("INFO", "console")  # as pytest's own output expects


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_traceback_shows_no_local_variables_and_no_secrets(written: io.StringIO) -> None:
    log = structlog.get_logger("services.listings")

    def register(data: dict[str, str]) -> None:
        password = data["password"]  # a local the old tracebacks printed
        assert password
        raise ValueError(f"could not store {data['name']!r} with key vpk_{TOKEN}")

    try:
        register({"name": "Sagbruk\x00 AS", "password": "hunter2 hunter2 hunter2"})
    except ValueError:
        log.exception(
            "unhandled error", path="/api/listings/companies", authorization=f"Bearer {TOKEN}"
        )
    [line] = lines(written)
    text = json.dumps(line)
    assert "hunter2" not in text
    assert TOKEN[-20:] not in text
    assert line["authorization"] == "[redacted]"
    assert "Traceback" in line["exception"] and ", in register" in line["exception"]
    assert len(text) < 4000


def test_lines_of_every_library_are_json_redacted_and_filtered(written: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("connecting to postgresql://svc:s3cret@db/park")
    logging.getLogger("aiokafka").info("chatter the level hides")
    structlog.get_logger("x").debug("hidden at INFO")
    structlog.get_logger("x").info(
        "stripe", api_key=STRIPE_API_KEY, note=f"whsec_{uuid.uuid4().hex} and {STRIPE_API_KEY}"
    )
    found = lines(written)
    assert found[0]["event"] == "connecting to postgresql://svc:[redacted]@db/park"
    assert len(found) == 2
    assert found[1]["api_key"] == "[redacted]"
    assert "whsec_" not in found[1]["note"] and STRIPE_API_KEY not in found[1]["note"]
    assert found[1]["process"] == "test" and found[1]["level"] == "info"


@pytest.mark.parametrize(
    "text",
    [
        '{"email": "a@b.no", "password": "swordfish!"}',
        "password=swordfish!&x=1",
        "Authorization: Bearer swordfishswordfish",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$swordfishswordfish",
        'Failing row contains (1, "swordfish!", x).',
    ],
)
def test_secrets_in_text_are_redacted(text: str) -> None:
    assert "swordfish" not in redact_text(text)


def test_the_one_search_before_the_patterns_misses_no_secret() -> None:
    """``redact_text`` runs its patterns only when one search over all of them finds
    something (issue 19: a line costs a tenth of what it did); each pattern alone must
    still be found by it, with its own flags."""
    from shared.logs import _ANY_SECRET_TEXT, _SECRET_TEXT

    examples = [
        "vpk_eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJlc2ln",
        "sk_live_abcd1234",
        "whsec_abcd1234",
        "$argon2id$v=19$m=65536",
        "AUTHORIZATION: BASIC dXNlcjpwYXNz",
        "POSTGRESQL://user:pw@host/db",
        "Client_Secret = 'abc'",
        "Failing row contains (1, x)",
        "t=1,V1=" + "ab" * 20,
    ]
    for (pattern, _), text in zip(_SECRET_TEXT, examples, strict=True):
        assert pattern.search(text), (pattern.pattern, text)
        assert _ANY_SECRET_TEXT.search(text), text
        assert redact_text(text) != text
    for harmless in ("listing.published", "listings.events.v1", "0af7651916cd43dd8448eb211c"):
        assert _ANY_SECRET_TEXT.search(harmless) is None
        assert redact_text(harmless) == harmless


async def test_the_access_log_has_the_path_but_not_the_query(written: io.StringIO) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=AccessLog(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://park") as http:
        await http.get("/join", params={"token": "invitation-secret-123"})
    [line] = lines(written)
    assert (line["method"], line["path"], line["status"]) == ("GET", "/join", 204)
    assert "invitation-secret-123" not in json.dumps(line)
    assert line["duration_ms"] >= 0


@pytest.mark.e2e
async def test_bad_input_carrying_secrets_leaves_none_in_any_log(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    password = f"Pw-{uuid.uuid4().hex}"
    company = await company_with_admin(client, "Leaky Logs AS")
    secrets = {
        "password": password,
        "api key": company["api_key"].removeprefix("vpk_"),
        "access token": company["token"],
        "stripe key": STRIPE_API_KEY,
        "stripe webhook secret": WEBHOOK_SECRET,
        "query secret": "query-secret-" + uuid.uuid4().hex,
    }
    # the registration that put the password in listings.log twice
    await client.post(
        "/api/listings/companies/",
        json={
            "name": "Nul\x00 AS",
            "org_number": org_number(),
            "admin": {"name": "x", "email": "leak@example.no", "password": password},
        },
    )
    await client.post(
        "/api/listings/auth/token", json={"email": company["email"], "password": password}
    )
    await client.post(
        "/api/listings/people/accept-invitation",
        json={"token": secrets["query secret"], "password": password},
    )
    for headers in (company["headers"], bearer(company["token"])):
        await client.post(
            "/api/listings/listings/",
            content="[" * 1000 + "]" * 1000,
            headers={**headers, "Content-Type": "application/json"},
        )
        await client.get(
            "/api/listings/listings/",
            params={"q": "\x00", "token": secrets["query secret"]},
            headers=headers,
        )
        await client.get("/api/notifications/inbox/", params={"cursor": password}, headers=headers)
        await client.patch(
            "/api/listings/listings/" + str(uuid.uuid4()), json={"title": None}, headers=headers
        )
    await client.get("/api/listings/companies/me", headers=bearer(company["token"] + "x"))
    body = json.dumps({"id": "evt_x", "api_key": STRIPE_API_KEY, "password": password}).encode()
    await client.post(
        "/api/contracts/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": stripe_signature(body, "whsec_not_the_secret")},
    )
    await client.post(
        "/api/notifications/webhooks/endpoints/",
        json={"url": f"https://user:{password}@127.0.0.2/", "event_types": ["x"]},
        headers=company["headers"],
    )
    await client.get("/sign-in", params={"next": "/", "token": secrets["query secret"]})
    await client.post("/sign-in", data={"email": company["email"], "password": password})

    logs = sorted(Path(stack.data_dir).glob("*.log"))
    assert {p.stem for p in logs} >= {"listings", "contracts", "notifications", "gateway", "portal"}
    for path in logs:
        text = path.read_text(errors="replace")
        for what, secret in secrets.items():
            assert secret not in text, f"{what} in {path.name}"
    # and the services write JSON lines
    for path in logs:
        if path.stem in ("listings", "matching", "contracts", "notifications", "portal", "gateway"):
            for line in path.read_text().splitlines():
                if line.strip():
                    json.loads(line)
