"""Invoices through Stripe (stripe-mock, Stripe's own mock server) and Stripe's webhooks.

stripe-mock validates every request against Stripe's OpenAPI description and answers with
fixture objects; it keeps no state. A small recording proxy sits between the worker and
stripe-mock: it records each request's method, path, form body and ``Idempotency-Key``, and
can hold, fail or spoil one request to show what the worker does then.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET

import httpx
import pytest
import stripe
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.testing import AsyncTestClient
from pydantic import SecretStr
from pypdf import PdfReader
from structlog.testing import capture_logs

import services.contracts as contracts_package
from services.contracts import application, documents
from services.contracts import storage as contract_store
from services.contracts.application import Actor
from services.contracts.billing import OSLO, Invoicer, Schedule, invoice_periodically, stripe_client
from services.contracts.config import ContractsSettings
from services.contracts.deliveries import contract_view
from services.contracts.domain.invoice import Party, kid
from services.contracts.invoices import CreditNoteView
from services.contracts.storage import invoices as invoice_store
from services.contracts.webhooks import StripeWebhookController
from services.listings.config import ListingsSettings
from shared.auth import TokenVerifier, ensure_signing_keys, load_public_key
from shared.db import Pool, create_pool
from shared.events import Envelope, ListingReservationRefused, ReasonDetail
from shared.http import EXCEPTION_HANDLERS, BearerAuthentication
from shared.migrations import migrate
from shared.service import provide_pool, provide_settings
from tests import peppol
from tests.conftest import STRIPE_API_KEY as API_KEY
from tests.support import REPO, eventually, free_port, stripe_invoice_event, stripe_signature

pytestmark = [
    pytest.mark.integration,
    # The stripe SDK hands httpx its form body as `data=`, which httpx deprecates.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

WEBHOOK_SECRET = "whsec_viken_park_test_secret"
FAST = Schedule(poll_seconds=0.5, backoff_base_seconds=2.0, backoff_cap_seconds=4.0)


# ---------------------------------------------------------------------------------------------
# stripe-mock


# ---------------------------------------------------------------------------------------------
# The recording proxy


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    idempotency_key: str | None
    form: dict[str, list[str]]


class RecordingProxy:
    """A plain HTTP/1.1 proxy in front of stripe-mock that records what the SDK sends.

    ``hold`` (method, path): the first such request is recorded and never answered, until the
    client goes away. ``fail`` (method, path, status): such requests are answered with a
    Stripe-shaped error. ``spoil`` (method, path): such requests reach stripe-mock with an
    unknown parameter added, which it refuses as Stripe would."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self.hold: tuple[str, str] | None = None
        self.holding = asyncio.Event()
        self.fail: tuple[str, str, int] | None = None
        self.spoil: tuple[str, str] | None = None
        self._client = httpx.AsyncClient(base_url=upstream, timeout=30)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        await self._client.aclose()

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request_line = await reader.readline()
        if not request_line.strip():
            return False
        method, target, _ = request_line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while (line := await reader.readline()).strip():
            name, value = line.decode("latin-1").split(":", 1)
            headers.append((name.strip(), value.strip()))
        lower = {name.lower(): value for name, value in headers}
        body = await reader.readexactly(int(lower.get("content-length", "0")))
        path = target.split("?", 1)[0]
        form = parse_qs(body.decode(), keep_blank_values=True)
        self.seen.append(Seen(method, path, lower.get("idempotency-key"), form))

        if self.hold == (method, path):
            self.hold = None
            self.holding.set()
            await reader.read()  # until the client hangs up: it never gets an answer
            return False
        if self.fail is not None and self.fail[:2] == (method, path):
            error = {"error": {"type": "api_error", "message": "Stripe is having a bad day"}}
            self._write(writer, self.fail[2], "application/json", json.dumps(error).encode())
            await writer.drain()
            return True
        if self.spoil == (method, path):
            body += b"&not_a_stripe_parameter=1"
        forwarded = {
            name: value
            for name, value in headers
            if name.lower() not in ("host", "content-length", "connection")
        }
        response = await self._client.request(method, target, headers=forwarded, content=body)
        self._write(
            writer,
            response.status_code,
            response.headers.get("content-type", "application/json"),
            response.content,
        )
        await writer.drain()
        return True

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Request-Id: req_proxy\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)


@pytest.fixture
async def proxy(stripe_mock: str) -> AsyncIterator[tuple[RecordingProxy, str]]:
    recorder = RecordingProxy(stripe_mock)
    url = await recorder.start()
    yield recorder, url
    await recorder.stop()


# ---------------------------------------------------------------------------------------------
# The database and its rows


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, "contracts")
    async with pool.acquire() as conn:
        await migrate(conn, "contracts", Path(contracts_package.__file__).parent / "migrations")
    yield pool
    await pool.close()


NUMBERS = itertools.count(7)


@dataclass(frozen=True)
class Queued:
    id: uuid.UUID
    delivery_id: uuid.UUID
    contract_id: uuid.UUID
    payer: uuid.UUID
    payee: uuid.UUID


async def queue_invoice(
    pool: Pool, supplier: uuid.UUID | None = None, receiver: uuid.UUID | None = None
) -> Queued:
    """A contract for 50 t of bottom ash at 400 kr/t, a confirmed delivery of 12.5 t and its
    invoice, queued: 5,000 kr + 1,250 kr MVA, of which 100 kr (2 %) is the platform fee."""
    supplier = supplier or uuid.uuid4()
    receiver = receiver or uuid.uuid4()
    number = next(NUMBERS)
    negotiation, terms, contract = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    delivery, invoice = uuid.uuid4(), uuid.uuid4()
    offer, need = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO proposals (id, offer_id, need_id, supplier_company_id, receiver_company_id,
                                   ewc_code, title, quantity, unit, reasons, proposed_at)
            VALUES ($1, $2, $3, $4, $5, '100101', 'Bottom ash', 50, 't', '[]', now())
            """,
            negotiation,
            offer,
            need,
            supplier,
            receiver,
        )
        await conn.execute(
            """
            INSERT INTO negotiations (id, supplier_company_id, receiver_company_id, status,
                                      expires_at)
            VALUES ($1, $2, $3, 'agreed', now() + interval '14 days')
            """,
            negotiation,
            supplier,
            receiver,
        )
        await conn.execute(
            """
            INSERT INTO terms (id, negotiation_id, version, proposed_by, quantity, unit,
                               price_per_unit_ore, transport, schedule, status)
            VALUES ($1, $2, 1, 'exchange', 50, 't', 40000, 'supplier', 'weekly', 'agreed')
            """,
            terms,
            negotiation,
        )
        await conn.execute(
            """
            INSERT INTO contracts (id, negotiation_id, terms_id, offer_id, need_id,
                                   supplier_company_id, receiver_company_id, title, quantity,
                                   unit, price_per_unit_ore, transport, schedule)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'Bottom ash', 50, 't', 40000, 'supplier',
                    'weekly')
            """,
            contract,
            negotiation,
            terms,
            offer,
            need,
            supplier,
            receiver,
        )
        await conn.execute(
            """
            INSERT INTO deliveries (id, contract_id, quantity, unit, delivered_on, recorded_by,
                                    status, answered_by, answered_at)
            VALUES ($1, $2, 12.5, 't', current_date, $3, 'confirmed', $4, now())
            """,
            delivery,
            contract,
            uuid.uuid4(),
            uuid.uuid4(),
        )
        await conn.execute(
            """
            INSERT INTO invoices (id, delivery_id, contract_id, payer_company_id,
                                  payee_company_id, description, quantity, unit, unit_price_ore,
                                  net_ore, mva_ore, total_ore, platform_fee_ore, number,
                                  issue_date, delivery_date, due_date, kid, vat_percent, seller,
                                  buyer)
            VALUES ($1, $2, $3, $4, $5, 'Bottom ash, 12.5 t delivered', 12.5, 't', 40000,
                    500000, 125000, 625000, 10000, $9, current_date, current_date,
                    current_date + 14, $6, 25, $7, $8)
            """,
            invoice,
            delivery,
            contract,
            receiver,
            supplier,
            kid(number),
            party(supplier, "Borg Askegjenvinning AS", "921277474", "86011117947").snapshot(),
            party(receiver, "Viken Betong AS", "921300018", None).snapshot(),
            number,
        )
        await conn.execute(
            "INSERT INTO document_series (company_id, last_number) VALUES ($1, $2) "
            "ON CONFLICT (company_id) DO UPDATE SET last_number = excluded.last_number",
            supplier,
            number,
        )
        await conn.execute("NOTIFY invoices_queued")
    return Queued(invoice, delivery, contract, receiver, supplier)


def party(company: uuid.UUID, name: str, org: str, account: str | None) -> Party:
    address = ("Tofteberg 3", "1617", "Fredrikstad", "NO")
    return Party(company, name, org, *address, True, account, "nb")


async def invoice_row(pool: Pool, invoice_id: uuid.UUID) -> dict[str, Any]:
    row = await pool.fetchrow("SELECT * FROM invoices WHERE id = $1", invoice_id)
    assert row is not None
    return dict(row)


async def outbox(pool: Pool) -> list[Envelope]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [Envelope.model_validate_json(bytes(r["payload"])) for r in rows]


@contextlib.asynccontextmanager
async def invoicer(pool: Pool, api_base: str, schedule: Schedule = FAST) -> AsyncIterator[Invoicer]:
    http_client = stripe.HTTPXClient(timeout=10)
    settings = ContractsSettings(stripe_api_key=SecretStr(API_KEY), stripe_api_base=api_base)
    try:
        yield Invoicer(pool, stripe_client(settings, http_client), schedule)
    finally:
        await http_client.close_async()


# ---------------------------------------------------------------------------------------------
# The worker


async def test_a_queued_invoice_is_issued_with_keys_named_after_their_cause(
    pool: Pool, proxy: tuple[RecordingProxy, str]
) -> None:
    recorder, url = proxy
    queued = await queue_invoice(pool)
    async with invoicer(pool, url) as worker:
        assert await worker.issue_due() == 1
        assert await worker.issue_due() == 0

    row = await invoice_row(pool, queued.id)
    assert row["status"] == "issued"
    assert row["stripe_invoice_id"].startswith("in_")
    assert row["issued_at"] is not None
    assert (row["attempts"], row["last_error"]) == (1, None)
    accounts = dict(
        (r["company_id"], (r["stripe_customer_id"], r["stripe_account_id"]))
        for r in await pool.fetch("SELECT * FROM billing_accounts")
    )
    customer, _ = accounts[queued.payer]
    _, account = accounts[queued.payee]
    assert customer.startswith("cus_") and account.startswith("acct_")
    tax_rate = await pool.fetchval("SELECT stripe_tax_rate_id FROM stripe_tax_rates")
    assert tax_rate.startswith("txr_")

    [event] = await outbox(pool)
    assert (event.type, event.subject) == ("invoice.issued", str(queued.id))
    assert event.data["amount_ore"] == 625000
    assert event.data["currency"] == "nok"
    assert event.data["payer_company_id"] == str(queued.payer)
    assert event.data["payee_company_id"] == str(queued.payee)
    assert event.data["delivery_id"] == str(queued.delivery_id)

    # Every request carried an idempotency key named after what caused it.
    stripe_id = row["stripe_invoice_id"]
    assert [(s.method, s.path, s.idempotency_key) for s in recorder.seen] == [
        ("POST", "/v1/customers", f"customer:{queued.payer}"),
        ("POST", "/v1/accounts", f"account:{queued.payee}"),
        ("POST", "/v1/tax_rates", "taxrate:mva25"),
        ("POST", "/v1/invoices", f"invoice:{queued.id}:create"),
        ("POST", "/v1/invoiceitems", f"invoice:{queued.id}:item"),
        ("POST", f"/v1/invoices/{stripe_id}/finalize", f"invoice:{queued.id}:finalize"),
        ("POST", f"/v1/invoices/{stripe_id}/send", f"invoice:{queued.id}:send"),
    ]
    created = recorder.calls("POST", "/v1/invoices")[0].form
    assert created["customer"] == [customer]
    assert created["currency"] == ["nok"]
    assert created["collection_method"] == ["send_invoice"]
    assert created["custom_fields[0][value]"] == [str(row["number"])]
    assert created["custom_fields[1][value]"] == [row["kid"]]
    assert int(created["due_date"][0]) > time.time() + 13 * 86400
    assert created["application_fee_amount"] == ["10000"]
    assert created["transfer_data[destination]"] == [account]
    assert created["metadata[invoice_id]"] == [str(queued.id)]
    assert created["metadata[delivery_id]"] == [str(queued.delivery_id)]
    assert created["metadata[contract_id]"] == [str(queued.contract_id)]
    item = recorder.calls("POST", "/v1/invoiceitems")[0].form
    assert item["amount"] == ["500000"]
    assert item["currency"] == ["nok"]
    assert item["tax_rates[0]"] == [tax_rate]
    rate = recorder.calls("POST", "/v1/tax_rates")[0].form
    assert (rate["percentage"], rate["inclusive"], rate["jurisdiction"]) == (
        ["25.0"],
        ["false"],
        ["NO"],
    )
    assert rate["display_name"] == ["MVA"]
    account_form = recorder.calls("POST", "/v1/accounts")[0].form
    assert account_form["country"] == ["NO"]

    # The next invoice between the same companies reuses their customer, account and tax rate.
    recorder.seen.clear()
    second = await queue_invoice(pool, supplier=queued.payee, receiver=queued.payer)
    async with invoicer(pool, url) as worker:
        assert await worker.issue_due() == 1
    assert [s.path.rsplit("/", 1)[-1] for s in recorder.seen] == [
        "invoices",
        "invoiceitems",
        "finalize",
        "send",
    ]
    assert all((s.idempotency_key or "").startswith(f"invoice:{second.id}:") for s in recorder.seen)
    assert (await invoice_row(pool, second.id))["status"] == "issued"


async def test_stripe_the_pdf_and_the_ehf_say_the_same(
    pool: Pool, proxy: tuple[RecordingProxy, str]
) -> None:
    """The invoice's figures as Stripe is asked to bill them, as the PDF prints them and as
    the EHF carries them (which also passes the official Peppol rules)."""
    recorder, url = proxy
    queued = await queue_invoice(pool)
    async with invoicer(pool, url) as worker:
        assert await worker.issue_due() == 1
    stored = await invoice_store.invoice_of(pool, queued.id, None)
    assert stored is not None and stored.number is not None and stored.due_date is not None

    created = recorder.calls("POST", "/v1/invoices")[0].form
    item = recorder.calls("POST", "/v1/invoiceitems")[0].form
    rate = recorder.calls("POST", "/v1/tax_rates")[0].form
    net = int(item["amount"][0])
    vat = round(net * float(rate["percentage"][0]) / 100)
    stripe_figures = {
        "number": created["custom_fields[0][value]"][0],
        "kid": created["custom_fields[1][value]"][0],
        "due": datetime.fromtimestamp(int(created["due_date"][0]), OSLO).date(),
        "net": net,
        "vat": vat,
        "total": net + vat,
        "fee": int(created["application_fee_amount"][0]),
    }
    assert stripe_figures == {
        "number": str(stored.number),
        "kid": stored.kid,
        "due": stored.due_date,
        "net": 500000,
        "vat": 125000,
        "total": 625000,
        "fee": 10000,
    }

    words = " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO(documents.invoice_pdf(stored, "nb"))).pages
    )
    for shown in (
        f"Faktura {stripe_figures['number']}",
        stripe_figures["kid"],
        stripe_figures["due"].strftime("%d.%m.%Y"),
        "kr 5 000,00",
        "kr 1 250,00",
        "kr 6 250,00",
        "kr 100,00",
    ):
        assert shown in words, shown

    ehf = documents.invoice_ehf(stored)
    root = ET.fromstring(ehf)  # noqa: S314 - our own document
    ns = {
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    }

    def at(path: str) -> str:
        found = root.find(path, ns)
        assert found is not None and found.text is not None, path
        return found.text

    assert at("cbc:ID") == stripe_figures["number"]
    assert at("cbc:DueDate") == stripe_figures["due"].isoformat()
    assert at("cac:PaymentMeans/cbc:PaymentID") == stripe_figures["kid"]
    assert at("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount") == "5000.00"
    assert at("cac:TaxTotal/cbc:TaxAmount") == "1250.00"
    assert at("cac:LegalMonetaryTotal/cbc:PayableAmount") == "6250.00"
    assert "100.00" in at("cbc:Note")
    assert peppol.errors(ehf) == []


async def test_an_outage_leaves_the_invoice_queued_until_stripe_is_back(
    pool: Pool, stripe_mock: str
) -> None:
    queued = await queue_invoice(pool)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with capture_logs() as logs:
        async with invoicer(pool, closed) as worker:
            assert await worker.issue_due() == 1
    row = await invoice_row(pool, queued.id)
    assert row["status"] == "queued"
    assert row["attempts"] == 1
    assert row["last_error"].startswith("APIConnectionError")
    assert row["stripe_invoice_id"] is None
    assert await pool.fetchval("SELECT next_attempt_at > now() FROM invoices")
    assert await outbox(pool) == []
    assert [entry["log_level"] for entry in logs if "invoicing" in entry["event"]] == ["warning"]

    async with invoicer(pool, stripe_mock) as worker:
        assert await worker.issue_due() == 0  # not due yet: it backs off
        await eventually(worker.issue_due, timeout=10)
    row = await invoice_row(pool, queued.id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("issued", 2, None)
    assert [e.type for e in await outbox(pool)] == ["invoice.issued"]


async def test_a_stripe_5xx_is_retried_with_the_same_keys(
    pool: Pool, proxy: tuple[RecordingProxy, str]
) -> None:
    recorder, url = proxy
    queued = await queue_invoice(pool)
    recorder.fail = ("POST", "/v1/invoices", 503)
    async with invoicer(pool, url) as worker:
        assert await worker.issue_due() == 1
        row = await invoice_row(pool, queued.id)
        assert (row["status"], row["attempts"]) == ("queued", 1)
        assert row["last_error"].startswith("APIError 503")

        recorder.fail = None
        await eventually(worker.issue_due, timeout=10)
    assert (await invoice_row(pool, queued.id))["status"] == "issued"
    keys = {s.idempotency_key for s in recorder.calls("POST", "/v1/invoices")}
    assert len(recorder.calls("POST", "/v1/invoices")) == 2
    assert keys == {f"invoice:{queued.id}:create"}
    # The customer, account and tax rate made before the failure are not asked for again.
    assert len(recorder.calls("POST", "/v1/customers")) == 1
    assert len(recorder.calls("POST", "/v1/accounts")) == 1


async def test_a_request_stripe_refuses_is_a_bug_and_the_invoice_waits(
    pool: Pool, proxy: tuple[RecordingProxy, str]
) -> None:
    recorder, url = proxy
    queued = await queue_invoice(pool)
    recorder.spoil = ("POST", "/v1/invoiceitems")
    with capture_logs() as logs:
        async with invoicer(pool, url) as worker:
            assert await worker.issue_due() == 1
    row = await invoice_row(pool, queued.id)
    assert (row["status"], row["attempts"], row["stripe_invoice_id"]) == ("queued", 1, None)
    assert row["last_error"].startswith("InvalidRequestError 400")
    assert "additional properties are not allowed" in row["last_error"]
    assert await pool.fetchval("SELECT next_attempt_at > now() FROM invoices")
    assert await outbox(pool) == []
    [entry] = [e for e in logs if "invoicing" in e["event"]]
    assert entry["log_level"] == "error"
    assert entry["invoice_id"] == str(queued.id)
    assert not any(s.path.endswith(("/finalize", "/send")) for s in recorder.seen)


WORKER = """
import asyncio
from services.contracts.billing import Schedule, invoice_periodically
from shared.db import create_pool
from services.contracts.config import ContractsSettings

async def main() -> None:
    settings = ContractsSettings()
    pool = await create_pool(settings.require_database_url(), "contracts")
    await invoice_periodically(pool, settings, Schedule(poll_seconds=0.5, backoff_base_seconds=0.5))

asyncio.run(main())
"""


async def test_a_worker_killed_in_the_middle_of_a_call_makes_no_second_invoice(
    pool: Pool, proxy: tuple[RecordingProxy, str], database_url: str
) -> None:
    recorder, url = proxy
    queued = await queue_invoice(pool)
    env = {
        **os.environ,
        "SYMBIOSIS_DATABASE_URL": database_url,
        "SYMBIOSIS_STRIPE_API_KEY": API_KEY,
        "SYMBIOSIS_STRIPE_API_BASE": url,
    }

    async def start_worker() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, cwd=REPO, env=env, stderr=asyncio.subprocess.PIPE
        )

    recorder.hold = ("POST", "/v1/invoices")
    first = await start_worker()
    try:
        await asyncio.wait_for(recorder.holding.wait(), timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    row = await invoice_row(pool, queued.id)
    assert (row["status"], row["stripe_invoice_id"]) == ("queued", None)

    second = await start_worker()
    try:

        async def issued() -> bool:
            return (await invoice_row(pool, queued.id))["status"] == "issued"

        await eventually(issued, timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = await second.communicate()
    assert b"Traceback" not in stderr, stderr.decode()

    assert await pool.fetchval("SELECT count(*) FROM invoices WHERE status = 'issued'") == 1
    assert [e.type for e in await outbox(pool)] == ["invoice.issued"]
    creates = recorder.calls("POST", "/v1/invoices")
    assert len(creates) == 2
    assert {c.idempotency_key for c in creates} == {f"invoice:{queued.id}:create"}
    assert creates[0].form == creates[1].form  # the same request, so Stripe replays the first
    # The customer and account made before the crash were kept, not made again.
    assert len(recorder.calls("POST", "/v1/customers")) == 1
    assert len(recorder.calls("POST", "/v1/accounts")) == 1


async def test_a_notify_wakes_the_worker(pool: Pool, stripe_mock: str) -> None:
    settings = ContractsSettings(stripe_api_key=SecretStr(API_KEY), stripe_api_base=stripe_mock)
    task = asyncio.create_task(
        invoice_periodically(pool, settings, Schedule(poll_seconds=60, backoff_base_seconds=60))
    )
    try:

        async def listening() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN %invoices_queued%'"
                )
            )

        await eventually(listening, timeout=10)
        queued = await queue_invoice(pool)  # commits with NOTIFY invoices_queued

        async def issued() -> bool:
            return (await invoice_row(pool, queued.id))["status"] == "issued"

        await eventually(issued, timeout=10)  # well before the next poll, a minute away
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_without_a_stripe_key_invoices_wait_in_the_queue(pool: Pool) -> None:
    queued = await queue_invoice(pool)
    # it waits for a key as long as the service runs (never ends by itself: the worker
    # runtime would take an ended loop for a failure)
    with capture_logs() as logs, pytest.raises(TimeoutError):
        await asyncio.wait_for(
            invoice_periodically(pool, ContractsSettings(stripe_api_key=None), FAST), timeout=2
        )
    [entry] = [e for e in logs if "Stripe" in e["event"]]
    assert entry["log_level"] == "warning"
    assert "waits for Stripe configuration" in entry["event"]
    row = await invoice_row(pool, queued.id)
    assert (row["status"], row["attempts"]) == ("queued", 0)


# ---------------------------------------------------------------------------------------------
# The webhook


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    return stripe_signature(payload, secret, at)


def webhook_app(
    database_url: str,
    secret: str | None = WEBHOOK_SECRET,
    *,
    also: list[Any] | None = None,
    middleware: list[Any] | None = None,
) -> Litestar:
    """The webhook controller served as the contracts service serves it: the pool is made in
    the app's lifespan (the test client runs the app on an event loop of its own)."""
    settings = ContractsSettings(stripe_webhook_secret=SecretStr(secret) if secret else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, "contracts")
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar(
        route_handlers=[StripeWebhookController, *(also or [])],
        lifespan=[lifespan],
        state=State({"settings": settings}),
        dependencies={
            "pool": Provide(provide_pool, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware or [],
    )


@pytest.fixture
async def webhook(pool: Pool, database_url: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=webhook_app(database_url)) as client:
        yield client


async def deliver(
    client: AsyncTestClient[Litestar], payload: bytes, signature: str | None = None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    headers["stripe-signature"] = signature if signature is not None else sign(payload)
    return await client.post("/stripe/webhook", content=payload, headers=headers)


async def test_a_signed_event_is_applied_once_and_published(
    pool: Pool, webhook: AsyncTestClient[Litestar]
) -> None:
    queued = await queue_invoice(pool)
    finalized = stripe_invoice_event("invoice.finalized", queued.id)
    response = await deliver(webhook, finalized)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "applied"
    row = await invoice_row(pool, queued.id)
    assert (row["status"], row["stripe_invoice_id"]) == ("issued", "in_1ViKenParkTest0001")
    assert row["issued_at"] is not None

    paid = stripe_invoice_event("invoice.paid", queued.id)
    response = await deliver(webhook, paid)
    assert response.json()["outcome"] == "applied"
    row = await invoice_row(pool, queued.id)
    assert row["status"] == "paid" and row["paid_at"] is not None

    replay = await deliver(webhook, paid)  # Stripe delivers again: same event id
    assert (replay.status_code, replay.json()["outcome"]) == (200, "replayed")

    events = await outbox(pool)
    assert [e.type for e in events] == ["invoice.issued", "invoice.paid"]
    assert {e.subject for e in events} == {str(queued.id)}
    assert events[1].data["amount_ore"] == 625000
    assert events[1].correlationid == json.loads(paid)["id"]
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == 2


async def test_bad_signatures_are_refused_and_change_nothing(
    pool: Pool, webhook: AsyncTestClient[Litestar]
) -> None:
    queued = await queue_invoice(pool)
    paid = stripe_invoice_event("invoice.paid", queued.id)
    tampered = paid.replace(b"625000", b"1")
    refused = [
        await deliver(webhook, tampered, sign(paid)),  # body altered after signing
        await deliver(webhook, paid, sign(paid, at=int(time.time()) - 301)),  # too old
        await deliver(webhook, paid, sign(paid, secret="whsec_someone_else")),
        await deliver(webhook, paid, ""),  # no signature
    ]
    for response in refused:
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["title"] == "Signature not valid"
    assert "tolerance" in refused[1].json()["detail"]
    row = await invoice_row(pool, queued.id)
    assert (row["status"], row["paid_at"]) == ("queued", None)
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == 0
    assert await outbox(pool) == []


async def test_events_in_any_order_end_in_the_furthest_status(
    pool: Pool, webhook: AsyncTestClient[Litestar]
) -> None:
    queued = await queue_invoice(pool)
    outcomes = [
        (await deliver(webhook, stripe_invoice_event(event_type, queued.id))).json()["outcome"]
        for event_type in (
            "invoice.paid",  # before Stripe's own invoice.finalized reached us
            "invoice.finalized",
            "invoice.sent",
            "invoice.payment_failed",  # an older attempt, arriving late
            "invoice.voided",
        )
    ]
    assert outcomes == ["applied", "unchanged", "unchanged", "unchanged", "unchanged"]
    row = await invoice_row(pool, queued.id)
    assert row["status"] == "paid"
    assert row["issued_at"] is not None and row["paid_at"] is not None
    assert [e.type for e in await outbox(pool)] == ["invoice.paid"]


async def test_a_failed_payment_then_payment(
    pool: Pool, webhook: AsyncTestClient[Litestar]
) -> None:
    queued = await queue_invoice(pool)
    for event_type in ("invoice.finalized", "invoice.payment_failed", "invoice.paid"):
        response = await deliver(webhook, stripe_invoice_event(event_type, queued.id))
        assert response.json()["outcome"] == "applied"
    assert (await invoice_row(pool, queued.id))["status"] == "paid"
    assert [e.type for e in await outbox(pool)] == [
        "invoice.issued",
        "invoice.payment_failed",
        "invoice.paid",
    ]


async def test_a_voided_invoice(pool: Pool, webhook: AsyncTestClient[Litestar]) -> None:
    queued = await queue_invoice(pool)
    for event_type in ("invoice.finalized", "invoice.voided", "invoice.payment_failed"):
        await deliver(webhook, stripe_invoice_event(event_type, queued.id))
    assert (await invoice_row(pool, queued.id))["status"] == "void"
    # annulled: a credit note in the seller's series (Stripe voided its side itself)
    published = await outbox(pool)
    assert [e.type for e in published] == ["invoice.issued", "credit_note.issued", "invoice.voided"]
    note = await invoice_store.credit_note_of_invoice(pool, queued.id)
    assert note is not None and (note.status, note.total_ore) == ("not_needed", 625000)
    assert published[1].data["invoice_number"] + 1 == published[1].data["number"]
    # why, as a code beside the English, for the reader's language
    assert (note.reason, note.reason_detail) == (
        "voided at Stripe",
        {"code": "credit_note.voided_at_stripe", "params": {}},
    )
    assert published[1].data["reason_detail"] == note.reason_detail
    assert note.reason_in("nb") == "annullert hos Stripe"


async def test_matching_by_stripe_id_and_events_that_are_not_ours(
    pool: Pool, webhook: AsyncTestClient[Litestar], proxy: tuple[RecordingProxy, str]
) -> None:
    _, url = proxy
    queued = await queue_invoice(pool)
    async with invoicer(pool, url) as worker:
        assert await worker.issue_due() == 1
    stripe_id = (await invoice_row(pool, queued.id))["stripe_invoice_id"]

    # No metadata (say, an older invoice): found by its Stripe id.
    response = await deliver(webhook, stripe_invoice_event("invoice.paid", None, stripe_id))
    assert response.json()["outcome"] == "applied"
    assert (await invoice_row(pool, queued.id))["status"] == "paid"

    other = await deliver(webhook, stripe_invoice_event("invoice.paid", None, "in_not_ours"))
    assert (other.status_code, other.json()["outcome"]) == (200, "unmatched")
    # Our metadata on another Stripe invoice (a duplicate made by hand): not ours to apply.
    stray = await deliver(
        webhook, stripe_invoice_event("invoice.voided", queued.id, "in_duplicate")
    )
    assert stray.json()["outcome"] == "unmatched"
    unknown = await deliver(webhook, stripe_invoice_event("customer.created", None, "cus_x"))
    assert (unknown.status_code, unknown.json()["outcome"]) == (200, "ignored")

    assert (await invoice_row(pool, queued.id))["status"] == "paid"
    assert [e.type for e in await outbox(pool)] == ["invoice.issued", "invoice.paid"]
    assert set(await pool.fetch("SELECT type FROM stripe_events")) == {
        ("invoice.paid",),
        ("invoice.voided",),
        ("customer.created",),
    }


async def test_without_a_webhook_secret_webhooks_are_refused(pool: Pool, database_url: str) -> None:
    async with AsyncTestClient(app=webhook_app(database_url, secret=None)) as client:
        response = await deliver(client, stripe_invoice_event("invoice.paid", uuid.uuid4()))
    assert response.status_code == 503
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == 0


async def test_the_webhook_needs_no_bearer_token(
    pool: Pool, database_url: str, tmp_path: Path
) -> None:
    keys = ListingsSettings(data_dir=tmp_path)
    ensure_signing_keys(keys)

    @get("/private")
    async def private() -> str:
        return "secret"

    app = webhook_app(
        database_url,
        also=[private],
        middleware=[
            DefineMiddleware(
                BearerAuthentication, verifier=TokenVerifier(load_public_key(keys.public_key_path))
            )
        ],
    )
    queued = await queue_invoice(pool)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/private")).status_code == 401
        response = await deliver(client, stripe_invoice_event("invoice.finalized", queued.id))
    assert response.status_code == 200, response.text
    assert (await invoice_row(pool, queued.id))["status"] == "issued"


async def test_why_a_contract_ended_and_an_invoice_was_credited_are_codes_in_the_api(
    pool: Pool,
) -> None:
    """A delivery disputed after invoicing: the credit note's reason is a code beside the
    English, the receiver's words apart, in the API, the event and the PDF in bokmål; a
    contract the listings could not reserve is cancelled with the listings' own reason as a
    code inside the contract's."""
    queued = await queue_invoice(pool)
    receiver = Actor(queued.payer, uuid.uuid4(), "person")
    async with pool.acquire() as conn, conn.transaction():
        # as if its deliveries had all been confirmed: a dispute makes it run again
        await conn.execute(
            "UPDATE contracts SET status = 'completed', status_reason = 'every delivery "
            "confirmed', ended_at = now() WHERE id = $1",
            queued.contract_id,
        )
        await application.dispute_delivery(conn, queued.delivery_id, receiver, "Våt flis", None)
        contract = await contract_store.contract(conn, queued.contract_id, None)
        assert contract is not None
        again = (await contract_view(conn, contract)).model_dump(mode="json")
    assert again["status"] == "active"
    assert again["status_reason"] == "a confirmed delivery was disputed: Våt flis"
    assert again["status_reason_detail"] == {"code": "contract.reopened_by_dispute", "params": {}}
    assert again["status_reason_typed"] == "Våt flis"
    note = await invoice_store.credit_note_of_invoice(pool, queued.id)
    assert note is not None
    view = CreditNoteView.of(note).model_dump(mode="json")
    assert view["reason"] == "delivery disputed after invoicing: Våt flis"
    assert view["reason_detail"] == {"code": "credit_note.delivery_disputed", "params": {}}
    assert view["reason_typed"] == "Våt flis"
    issued = [
        e
        for e in await outbox(pool)
        if e.type == "credit_note.issued" and e.data["invoice_id"] == str(queued.id)
    ]
    assert [(e.data["reason_detail"], e.data["reason_typed"]) for e in issued] == [
        ({"code": "credit_note.delivery_disputed", "params": {}}, "Våt flis")
    ]
    async with pool.acquire() as conn:
        invoice = await invoice_store.invoice_of_delivery(conn, queued.delivery_id)
    assert invoice is not None
    words = "".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(documents.credit_note_pdf(invoice, note, "nb"))).pages
    )
    assert "leveransen ble bestridt etter fakturering: Våt flis" in words
    assert "delivery disputed" not in words

    refused = ListingReservationRefused(
        listing_id=uuid.uuid4(),
        contract_id=queued.contract_id,
        requested_quantity=Decimal(50),
        requested_unit="t",
        remaining_quantity=Decimal(3),
        reason="the contract needs 50 t, but only 3 remain",
        reason_detail=ReasonDetail(
            code="listing.too_little", params={"needed": "50", "free": "3", "unit": "t"}
        ),
    )
    async with pool.acquire() as conn, conn.transaction():
        await application.reservation_refused(conn, refused, None)
        contract = await contract_store.contract(conn, queued.contract_id, None)
        assert contract is not None
        shown = (await contract_view(conn, contract)).model_dump(mode="json")
    assert shown["status"] == "cancelled"
    assert shown["status_reason"] == (
        "the listings could not reserve it: the contract needs 50 t, but only 3 remain"
    )
    assert shown["status_reason_detail"] == {
        "code": "contract.reservation_refused",
        "params": {
            "refusal": {
                "code": "listing.too_little",
                "params": {"needed": "50", "free": "3", "unit": "t"},
            }
        },
    }
    assert shown["status_reason_typed"] is None
    cancelled = [
        e
        for e in await outbox(pool)
        if e.type == "contract.cancelled" and e.data["contract_id"] == str(queued.contract_id)
    ]
    assert [e.data["reason_detail"]["code"] for e in cancelled] == ["contract.reservation_refused"]


async def test_contracts_and_invoices_are_listed_a_page_at_a_time_newest_first(
    pool: Pool,
) -> None:
    """The lists the portal pages through (``limit`` and ``offset``): newest first, each
    page where the last ended; before, every list stopped at 500 without saying so."""
    supplier = uuid.uuid4()
    made = [await queue_invoice(pool, supplier=supplier) for _ in range(3)]
    async with pool.acquire() as conn:
        first = await contract_store.contracts_of(conn, supplier, limit=2, offset=0)
        rest = await contract_store.contracts_of(conn, supplier, limit=2, offset=2)
    assert len(first) == 2 and len(rest) == 1
    assert [c.id for c in first + rest] == [q.contract_id for q in reversed(made)]
    invoices = await invoice_store.invoices_of(pool, supplier, limit=2, offset=0)
    older = await invoice_store.invoices_of(pool, supplier, limit=2, offset=2)
    assert [i.id for i in invoices + older] == [q.id for q in reversed(made)]
