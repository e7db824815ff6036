"""Sign-in throttling, as rules (no I/O): how many failed sign-ins an account and a client
address may have before further attempts must wait, and how long.

Each account (keyed by its e-mail address, whether or not an account has it, so the
answer tells nothing of which exist) and each client address has a count of recent
failures. An attempt is counted before the password is checked, so that many attempts at
once cannot all slip in before the first failure is recorded; a success takes its own
count back and clears the account's. Past ``free_failures`` every further attempt waits:
``base_lock_seconds`` after the last failure, doubling with each failure after that, up to
``max_lock_seconds``. Failures older than ``window_seconds`` are forgotten.

Loopback addresses are not throttled as addresses (their accounts still are): a caller on
the same machine is a local tool or the person at it under `symbiosis up`, and behind a
reverse proxy on the same host every caller would look alike, so one guesser would lock
everyone out.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Policy:
    free_failures: int
    window_seconds: float = 15 * 60
    base_lock_seconds: float = 30.0
    max_lock_seconds: float = 15 * 60

    def lock_seconds(self, failures: int) -> float:
        """How long after the last failure the next attempt waits (0: it need not)."""
        if failures < self.free_failures:
            return 0.0
        return min(
            self.max_lock_seconds, self.base_lock_seconds * 2.0 ** (failures - self.free_failures)
        )


ACCOUNT = Policy(free_failures=5)
ADDRESS = Policy(free_failures=30, base_lock_seconds=60.0)


@dataclass(frozen=True)
class Count:
    """Recent failed (or still unchecked) attempts of one account or address."""

    failures: int
    last_at: datetime


def current(count: Count | None, policy: Policy, now: datetime) -> int:
    """The failures that still count: none once the window has passed since the last."""
    if count is None or (now - count.last_at).total_seconds() > policy.window_seconds:
        return 0
    return count.failures


def wait_seconds(count: Count | None, policy: Policy, now: datetime) -> int:
    """Whole seconds to wait before another attempt (0: go ahead)."""
    failures = current(count, policy, now)
    if count is None or failures == 0:
        return 0
    left = policy.lock_seconds(failures) - (now - count.last_at).total_seconds()
    return max(0, math.ceil(left))


def throttles_address(address: str) -> bool:
    """Whether failures from this client address count (not for the loopback)."""
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True
