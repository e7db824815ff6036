from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import create_database
from tests.support import Infra, Stack, free_port_block, stack_env


@pytest.fixture(scope="session")
async def stack_database(infra: Infra) -> str:
    return await create_database(infra)


@pytest.fixture(scope="session")
def stack(
    infra: Infra, stack_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """All four services and the gateway as real processes on the test servers."""
    data_dir = tmp_path_factory.mktemp("stack")
    port = free_port_block(5)
    running = Stack(stack_env(infra, stack_database, data_dir, port), data_dir, port)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        yield http
