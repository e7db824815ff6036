from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import create_database
from tests.support import Infra, Stack, running_stack


@pytest.fixture(scope="session")
async def stack_database(infra: Infra) -> str:
    return await create_database(infra)


@pytest.fixture(scope="session")
def stack(
    infra: Infra, stack_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """All four services and the gateway as real processes on the test servers."""
    with running_stack(infra, stack_database, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        yield http
