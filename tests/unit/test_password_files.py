"""The Kafka principals' password files: made once, kept private, and read without change
from a folder someone else owns (Docker's and Kubernetes' secrets are root's, mounted
read-only; a setup job that runs as another user must not try to change their mode)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shared.broker_admin import ensure_password_files


def test_passwords_are_made_once_in_a_private_folder(tmp_path: Path) -> None:
    folder = tmp_path / "kafka"
    first = ensure_password_files(folder, ["admin", "listings"])
    assert ensure_password_files(folder, ["admin", "listings"]) == first
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "admin").stat().st_mode) == 0o600


def test_a_folder_of_another_users_is_read_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    for principal in ("admin", "listings"):
        (folder / principal).write_text(f"{principal}-password\n", encoding="utf-8")
    folder.chmod(0o755)
    monkeypatch.setattr(os, "getuid", lambda: folder.stat().st_uid + 1)  # not the owner
    passwords = ensure_password_files(folder, ["admin", "listings"])
    assert passwords == {"admin": "admin-password", "listings": "listings-password"}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
