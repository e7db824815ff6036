"""Failpoints: named places where a test can make this process die at once, to prove that
a crash there loses nothing and doubles nothing (tests/faults/, tests/e2e/).

``SYMBIOSIS_FAILPOINTS=name[,name...]`` arms them for one process; unset (always, outside
tests), ``crash_here`` is a lookup in an empty set. The process dies by SIGKILL, as a kill
or a power cut would end it: no cleanup, no flush.
"""

from __future__ import annotations

import os
import signal

ENV = "SYMBIOSIS_FAILPOINTS"
_ARMED = frozenset(name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip())


def crash_here(name: str) -> None:
    """Die now if the failpoint ``name`` is armed."""
    if name in _ARMED:
        print(f"failpoint {name}: dying", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
