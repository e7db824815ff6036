"""The sign-in throttling rules and the permit rule, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.listings.domain import permit_covers
from services.listings.throttling import (
    ACCOUNT,
    ADDRESS,
    Count,
    current,
    throttles_address,
    wait_seconds,
)

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_five_failures_are_free_then_each_waits_twice_as_long() -> None:
    assert [ACCOUNT.lock_seconds(n) for n in range(4, 10)] == [0, 30, 60, 120, 240, 480]
    assert ACCOUNT.lock_seconds(50) == 15 * 60
    assert ADDRESS.lock_seconds(29) == 0 and ADDRESS.lock_seconds(30) == 60


def test_the_wait_runs_from_the_last_failure() -> None:
    count = Count(failures=6, last_at=NOW - timedelta(seconds=20))
    assert wait_seconds(count, ACCOUNT, NOW) == 40
    assert wait_seconds(count, ACCOUNT, NOW + timedelta(seconds=40)) == 0
    assert wait_seconds(None, ACCOUNT, NOW) == 0
    assert wait_seconds(Count(4, NOW), ACCOUNT, NOW) == 0


def test_old_failures_are_forgotten() -> None:
    old = Count(failures=40, last_at=NOW - timedelta(minutes=16))
    assert current(old, ACCOUNT, NOW) == 0
    assert wait_seconds(old, ACCOUNT, NOW) == 0
    assert current(Count(3, NOW - timedelta(minutes=14)), ACCOUNT, NOW) == 3


@pytest.mark.parametrize(
    ("address", "counted"),
    [("203.0.113.9", True), ("127.0.0.1", False), ("::1", False), ("unknown", True)],
)
def test_the_loopback_is_not_throttled_as_an_address(address: str, counted: bool) -> None:
    assert throttles_address(address) is counted


TODAY = date(2027, 3, 1)


@pytest.mark.parametrize(
    ("status", "valid_until", "codes", "why"),
    [
        (None, None, [], "stated no permit"),
        ("stated", TODAY, ["190813"], "not been verified"),
        ("rejected", TODAY, ["190813"], "not accepted"),
        ("verified", TODAY - timedelta(days=1), ["190813"], "run out"),
        ("verified", TODAY, ["160601"], "does not cover"),
    ],
)
def test_a_hazardous_need_needs_a_verified_valid_covering_permit(
    status: str | None, valid_until: date | None, codes: list[str], why: str
) -> None:
    reason = permit_covers(status, valid_until, codes, "190813", TODAY)
    assert reason is not None and why in reason


def test_a_verified_permit_that_holds_today_covers_its_codes() -> None:
    assert permit_covers("verified", TODAY, ["190813", "160601"], "190813", TODAY) is None
