"""A database that has gone away is an outage (503 with Retry-After), however it went: an
administrator or a shutdown ending the backend (what the fault suite's dropped connections
do) as much as a refused connection."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from shared.http import EXCEPTION_HANDLERS
from shared.kafka import TRANSIENT_ERRORS

ENDED = [
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    ConnectionRefusedError(111, "Connection refused"),
]


@pytest.mark.parametrize("error", ENDED, ids=lambda e: type(e).__name__)
def test_a_lost_database_is_answered_503_and_retried_by_consumers(error: Exception) -> None:
    @get("/")
    async def handler() -> None:
        raise error

    with TestClient(Litestar([handler], exception_handlers=EXCEPTION_HANDLERS)) as client:
        answer = client.get("/")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"]
    assert isinstance(error, TRANSIENT_ERRORS)
