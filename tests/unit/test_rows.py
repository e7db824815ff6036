"""Rows as frozen dataclasses (``shared.db.record_as``): what the storage modules of the
contracts and notifications services give their callers instead of ``dict(row)``."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.contracts.storage import figures
from shared.db import record_as, records_as


@dataclass(frozen=True)
class Note:
    id: uuid.UUID
    title: str
    read_at: datetime | None
    language: str = "nb"


def test_a_record_becomes_its_dataclass_by_column_name() -> None:
    note_id = uuid.uuid4()
    record = {"read_at": None, "title": "Ny avtale", "id": note_id, "company_id": uuid.uuid4()}
    note = record_as(Note, record)
    assert note == Note(id=note_id, title="Ny avtale", read_at=None)  # other columns ignored
    with pytest.raises(dataclasses.FrozenInstanceError):
        note.title = "changed"  # type: ignore[misc]


def test_a_field_the_query_does_not_select_keeps_its_default() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    found = records_as(
        Note,
        [
            {"id": uuid.UUID(int=1), "title": "a", "read_at": at},
            {"id": uuid.UUID(int=2), "title": "b", "read_at": None, "language": "en"},
        ],
    )
    assert [(n.language, n.read_at) for n in found] == [("nb", at), ("en", None)]


def test_a_column_missing_for_a_field_without_default_is_an_error_not_a_half_row() -> None:
    with pytest.raises(TypeError, match="read_at"):
        record_as(Note, {"id": uuid.uuid4(), "title": "no read_at"})


def test_each_statistics_table_has_its_row_and_its_csv_header() -> None:
    assert set(figures.QUERIES) == set(figures.TABLES)
    assert figures.COLUMNS["months"] == ["month", "deliveries", "tonnes", "co2e_avoided_kg", "nok"]
    assert figures.COLUMNS["exchanges"][:3] == ["delivery_id", "contract_id", "delivered_on"]
