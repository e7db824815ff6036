"""The park office's companies page lists those it has to act on first and finds a company
by name or organisation number (issue 18: long lists page and sort)."""

from typing import Any

from services.portal.console import in_console_order, matches


def company(name: str, status: str | None, created: str, org: str = "923456783") -> dict[str, Any]:
    return {"id": name, "name": name, "status": status, "created_at": created, "org_number": org}


def test_waiting_then_suspended_then_verified_newest_first_in_each() -> None:
    listed = in_console_order(
        [
            company("Eldre Verifisert AS", "verified", "2026-01-01T10:00:00+00:00"),
            company("Ny Verifisert AS", "verified", "2026-11-01T10:00:00+00:00"),
            company("Suspendert AS", "suspended", "2025-05-01T10:00:00+00:00"),
            company("Venter Gammel AS", None, "2026-02-01T10:00:00+00:00"),
            company("Venter Ny AS", "registered", "2026-12-01T10:00:00+00:00"),
        ]
    )
    assert [c["name"] for c in listed] == [
        "Venter Ny AS",
        "Venter Gammel AS",
        "Suspendert AS",
        "Ny Verifisert AS",
        "Eldre Verifisert AS",
    ]


def test_a_company_is_found_by_a_part_of_its_name_or_its_number() -> None:
    sag = company("Fredrikstad Sag AS", "verified", "2026-01-01", org="923 456 783")
    assert matches(sag, "")
    assert matches(sag, "sag") and matches(sag, "FREDRIKSTAD")
    assert matches(company("Sag AS", None, "2026-01-01", org="923456783"), "923 456")
    assert not matches(sag, "Halden")
    assert not matches(company("Sag AS", None, "2026-01-01", org="923456783"), "999")
