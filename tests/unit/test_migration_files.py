from pathlib import Path

import pytest

from shared.migrations import MigrationError, load_migrations


def test_migrations_load_in_version_order(tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    loaded = load_migrations("svc", tmp_path)
    assert [m.name for m in loaded] == ["0001_first.sql", "0002_second.sql"]
    assert loaded[0].checksum != loaded[1].checksum


@pytest.mark.parametrize("name", ["1_first.sql", "0001-first.sql", "0001_First.sql"])
def test_stray_file_names_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_lowercase_name\.sql"):
        load_migrations("svc", tmp_path)


def test_two_files_with_one_version_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="version 0001"):
        load_migrations("svc", tmp_path)


def test_every_service_ships_loadable_migrations() -> None:
    root = Path(__file__).resolve().parents[2]
    for service in ("listings", "matching", "contracts", "notifications"):
        assert load_migrations(service, root / "services" / service / "migrations")
