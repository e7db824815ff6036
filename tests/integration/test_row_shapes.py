"""Each row dataclass of the contracts, notifications and matching storage modules against the
schema its migrations make (on a real PostgreSQL): every field is a column of its table
(or of its query), with the Python type asyncpg gives that column, None allowed exactly
where the column is nullable. A column renamed or dropped, or a field mistyped, fails
here instead of at run time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Literal

import pytest

from services.contracts.domain.capacity import Listing
from services.contracts.domain.contract import Contract, Delivery
from services.contracts.domain.invoice import CreditNote, Invoice
from services.contracts.domain.negotiation import Negotiation, Proposal, Step, Terms
from services.contracts.domain.report import Totals
from services.contracts.storage import _NEGOTIATION, figures
from services.contracts.storage import invoices as invoice_store
from services.matching import storage as matching_storage
from services.matching.domain import OpenListing
from services.notifications.storage import email, inbox, webhooks
from shared.db import Pool
from tests.support import migrated_pool

# PostgreSQL's type (information_schema's udt_name, or a query's column type) → what
# asyncpg decodes it to (JSON decoded by shared.db.init_connection).
PYTHON_TYPE: dict[str, tuple[type, ...]] = {
    "uuid": (uuid.UUID,),
    "text": (str,),
    "varchar": (str,),
    "bpchar": (str,),
    "bool": (bool,),
    "int2": (int,),
    "int4": (int,),
    "int8": (int,),
    "float8": (float,),
    "numeric": (Decimal,),
    "date": (dt.date,),
    "timestamptz": (dt.datetime,),
    "bytea": (bytes,),
    # a JSON document; an array may be kept as a tuple where the storage module converts it
    # (the matcher's open listing, a frozen model)
    "jsonb": (dict, list, tuple),
    "json": (dict, list),
    "_text": (list, tuple),
    "text[]": (list, tuple),
}


def _accepts(hint: Any) -> tuple[set[type], bool]:
    """The runtime types a field's annotation accepts, and whether None is one."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    accepted: set[type] = set()
    nullable = False
    for option in options:
        if option is type(None):
            nullable = True
        elif typing.get_origin(option) is Literal:
            accepted |= {type(v) for v in typing.get_args(option)}
        else:
            accepted.add(typing.get_origin(option) or option)
    return accepted, nullable


def _check(
    cls: type,
    columns: dict[str, tuple[str, bool | None]],
    *,
    all_columns: bool,
    written: bool = False,
) -> None:
    """``columns``: name → (PostgreSQL type, nullable; None when a query cannot tell). A
    row ``written`` (inserted, never read back) may leave no nullable column empty."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    wrong = [
        f"no column for {f.name}"
        for f in dataclasses.fields(cls)
        if f.name not in columns
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if all_columns:
        wrong += [f"no field for column {c}" for c in sorted(set(columns) - fields)]
    for name in sorted(fields & set(columns)):
        pg_type, nullable = columns[name]
        accepted, takes_none = _accepts(hints[name])
        if not accepted & set(PYTHON_TYPE[pg_type]):
            wrong.append(f"{name}: {hints[name]} for a {pg_type} column")
        if nullable is not None and takes_none != nullable and not (written and nullable):
            null = "nullable" if nullable else "NOT NULL"
            wrong.append(f"{name}: {hints[name]} for a {null} column")
    assert wrong == [], f"{cls.__name__}: {wrong}"


@pytest.fixture
async def notifications(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "notifications") as pool:
        yield pool


@pytest.fixture
async def contracts(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "contracts") as pool:
        yield pool


async def _table(pool: Pool, schema: str, table: str) -> dict[str, tuple[str, bool | None]]:
    rows = await pool.fetch(
        """
        SELECT column_name, udt_name, is_nullable = 'YES' AS nullable
        FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
        """,
        schema,
        table,
    )
    assert rows, f"no table {schema}.{table}"
    return {r["column_name"]: (r["udt_name"], r["nullable"]) for r in rows}


async def _query(pool: Pool, sql: str) -> dict[str, tuple[str, bool | None]]:
    """A query's columns in order, with their types (nullability unknown)."""
    async with pool.acquire() as conn:
        statement = await conn.prepare(sql)
        return {a.name: (a.type.name, None) for a in statement.get_attributes()}


async def test_the_notifications_rows_are_their_tables(notifications: Pool) -> None:
    async def table(name: str) -> dict[str, tuple[str, bool | None]]:
        return await _table(notifications, "notifications", name)

    _check(webhooks.EndpointRow, await table("webhook_endpoints"), all_columns=True)
    _check(webhooks.AttemptRow, await table("webhook_attempts"), all_columns=True)
    _check(inbox.InboxNoteRow, await table("inbox"), all_columns=True)
    _check(email.QueuedEmail, await table("emails"), all_columns=True)
    # the log leaves the body out, and adds each delivery's attempts
    _check(webhooks.DeliveryRow, await table("webhook_deliveries"), all_columns=False)
    deliveries = await table("webhook_deliveries")
    endpoints = await table("webhook_endpoints")
    due = {
        **{c: deliveries[c] for c in ("id", "event_id", "event_type", "body")},
        **{c: endpoints[c] for c in ("url", "company_id", "secret", "previous_secret")},
    }
    _check(webhooks.DueDelivery, due, all_columns=True)
    _check(webhooks.DeliveryOutcome, await table("webhook_deliveries"), all_columns=False)


async def test_the_contracts_rows_are_their_tables(contracts: Pool) -> None:
    async def table(name: str) -> dict[str, tuple[str, bool | None]]:
        return await _table(contracts, "contracts", name)

    for cls, name in (
        (Proposal, "proposals"),
        (Terms, "terms"),
        (Step, "negotiation_steps"),
        (Listing, "listings"),
        (Contract, "contracts"),
        (Delivery, "deliveries"),
        (Invoice, "invoices"),
        (CreditNote, "credit_notes"),
    ):
        _check(cls, await table(name), all_columns=False)
    _check(invoice_store.NewInvoice, await table("invoices"), all_columns=False, written=True)
    impact = await table("impact_entries")
    _check(invoice_store.ImpactEntry, impact, all_columns=False, written=True)


async def test_the_contracts_queries_give_their_rows_columns(contracts: Pool) -> None:
    for name, sql in figures.QUERIES.items():
        columns = await _query(contracts, sql)
        cls = figures.TABLES[name]
        assert list(columns) == figures.COLUMNS[name]  # the CSV's header is the query's
        _check(cls, columns, all_columns=True)
    _check(figures.HeadlineFigures, await _query(contracts, figures.HEADLINE), all_columns=True)
    _check(Totals, await _query(contracts, figures.REPORT), all_columns=True)
    exchanges = await _query(contracts, figures.REPORT_ROWS)
    assert list(exchanges) == [f.name for f in dataclasses.fields(figures.ReportExchange)]
    _check(figures.ReportExchange, exchanges, all_columns=True)
    _check(Negotiation, await _query(contracts, _NEGOTIATION), all_columns=False)


@pytest.fixture
async def matching(database_url: str) -> AsyncIterator[Pool]:
    async with migrated_pool(database_url, "matching") as pool:
        yield pool


async def test_the_matching_rows_are_their_tables(matching: Pool) -> None:
    async def table(name: str) -> dict[str, tuple[str, bool | None]]:
        return await _table(matching, "matching", name)

    proposals = await table("proposals")
    _check(matching_storage.ProposalRow, proposals, all_columns=True)
    _check(matching_storage.PairProposal, proposals, all_columns=False)
    _check(matching_storage.PlanRow, await table("plans"), all_columns=True)
    # The open listing is the matcher's domain model: its table holds each of its fields
    # (and what the index derives from them), by name.
    _check(OpenListing, await table("open_listings"), all_columns=False)
