"""A confirmed delivery through the contracts service's typed rows, on a real PostgreSQL:
its invoice made (``NewInvoice``) and its impact entry written (``ImpactEntry``), then
read back as the park's statistics and reports, in JSON and CSV, over HTTP."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.contracts import application, impact, storage
from services.contracts.config import ContractsSettings
from services.contracts.domain.contract import Contract, Delivery
from services.contracts.reports import ReportController
from services.contracts.statistics import StatisticsController
from services.contracts.storage import figures
from services.listings.config import ListingsSettings
from shared.auth import (
    ensure_signing_keys,
    issue_api_key,
    load_private_key,
)
from shared.db import Pool
from tests.support import migrated_pool, service_client


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "contracts") as pool:
        yield pool


async def confirmed_delivery(pool: Pool, supplier: uuid.UUID) -> tuple[Contract, Delivery]:
    """A contract for 50 t of bottom ash at 400 kr/t and a confirmed delivery of 12.5 t."""
    negotiation, terms, contract_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    receiver, offer, need = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO proposals (id, offer_id, need_id, supplier_company_id, receiver_company_id,
                                   ewc_code, title, quantity, unit, reasons, proposed_at)
            VALUES ($1, $2, $3, $4, $5, '190112', 'Bottom ash', 50, 't', '[]', now())
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
            VALUES ($1, $2, 1, 'exchange', 50, 't', 40000, 'supplier', 'once', 'agreed')
            """,
            terms,
            negotiation,
        )
        await conn.execute(
            """
            INSERT INTO contracts (id, negotiation_id, terms_id, offer_id, need_id,
                                   supplier_company_id, receiver_company_id, title, ewc_code,
                                   quantity, unit, price_per_unit_ore, transport, schedule)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'Bottom ash', '190112', 50, 't', 40000,
                    'supplier', 'once')
            """,
            contract_id,
            negotiation,
            terms,
            offer,
            need,
            supplier,
            receiver,
        )
        recorded = await storage.insert_delivery(
            conn, contract_id, Decimal("12.5"), "t", date(2026, 3, 14), None, uuid.uuid4()
        )
        delivery = await storage.answer_delivery(conn, recorded.id, "confirmed", uuid.uuid4(), None)
        contract = await storage.contract(conn, contract_id, None)
    assert contract is not None
    return contract, delivery


@pytest.fixture
def keys(tmp_path: Path) -> ListingsSettings:
    keys = ListingsSettings(data_dir=tmp_path)
    ensure_signing_keys(keys)
    return keys


@pytest.fixture
async def client(
    pool: Pool, database_url: str, keys: ListingsSettings
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with service_client(
        [StatisticsController, ReportController], ContractsSettings(database_url=database_url), keys
    ) as running:
        yield running


async def test_a_confirmed_delivery_is_invoiced_once_and_counted_in_the_figures(
    pool: Pool, client: AsyncTestClient[Litestar], keys: ListingsSettings
) -> None:
    supplier = uuid.uuid4()
    contract, delivery = await confirmed_delivery(pool, supplier)
    settings = ContractsSettings()
    async with pool.acquire() as conn, conn.transaction():
        invoice = await application.invoice_delivery(conn, contract, delivery, settings)
        again = await application.invoice_delivery(conn, contract, delivery, settings)
        await impact.record(conn, contract, delivery)
        await impact.record(conn, contract, delivery)  # once per delivery
    assert invoice is not None and again is None
    # the companies' details are not known yet: it waits for them, with its amounts
    assert (invoice.status, invoice.delivery_id, invoice.payee_company_id) == (
        "waiting",
        delivery.id,
        supplier,
    )
    assert (invoice.quantity, invoice.unit_price_ore, invoice.net_ore) == (12.5, 40000, 500000)
    assert not invoice.gate_fee and invoice.delivery_date == date(2026, 3, 14)

    async with pool.acquire() as conn:
        head = await figures.headline(conn, None, None)
        exchanges = await figures.report_rows(conn, supplier, None, None)
        months = await figures.table(conn, "months", None, None)
    assert (head.deliveries, head.tonnes_exchanged, head.nok_moved) == (1, 12.5, 5000)
    assert head.active_contracts == 1 and head.active_companies == 2
    [month] = months
    assert isinstance(month, figures.MonthFigures)
    assert (month.month, month.deliveries, month.tonnes, month.nok) == ("2026-03", 1, 12.5, 5000)
    [exchange] = exchanges
    assert (exchange.delivery_id, exchange.quantity, exchange.nok) == (delivery.id, 12.5, 5000)
    assert exchange.tonnes_diverted == 12.5  # bottom ash is waste (an EWC code)

    key = issue_api_key(load_private_key(keys.private_key_path), uuid.uuid4(), None, "park_admin")
    admin = {"Authorization": f"Bearer {key}"}
    stats = await client.get("/statistics/", headers=admin)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["headline"]["deliveries"] == 1
    assert Decimal(body["headline"]["nok_moved"]) == 5000
    assert [m["month"] for m in body["months"]] == ["2026-03"]
    assert [e["delivery_id"] for e in body["exchanges"]] == [str(delivery.id)]
    assert set(body["flows"][0]) == set(figures.COLUMNS["flows"])

    table = await client.get("/statistics/csv/exchanges", headers=admin)
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0] == figures.COLUMNS["exchanges"]
    assert rows[1][:3] == [str(delivery.id), str(contract.id), "2026-03-14"]
    empty = await client.get(
        "/statistics/csv/months", params={"until": "2000-01-01"}, headers=admin
    )
    assert list(csv.reader(io.StringIO(empty.text))) == [figures.COLUMNS["months"]]

    report = await client.get("/reports/park/csv", headers=admin)
    assert report.status_code == 200, report.text
    lines = list(csv.reader(io.StringIO(report.text)))
    header = next(n for n, line in enumerate(lines) if line[:2] == ["delivered_on", "delivery_id"])
    assert lines[header][-2:] == ["nok", "factors"]
    assert lines[header + 1][:2] == ["2026-03-14", str(delivery.id)]
    assert Decimal(lines[header + 1][lines[header].index("nok")]) == 5000
