from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import STRIPE_API_KEY, MailDrop, create_database
from tests.support import Infra, Stack, running_stack


@pytest.fixture(scope="session")
async def stack_database(infra: Infra) -> str:
    return await create_database(infra)


# The shared stack's Stripe webhook signing secret: tests sign events with it, as Stripe would.
WEBHOOK_SECRET = "whsec_e2e_stack_secret"


@pytest.fixture(scope="session")
def stack(
    infra: Infra,
    stack_database: str,
    stripe_mock: str,
    mail_drop: tuple[MailDrop, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """All four services and the gateway as real processes on the test servers, invoicing
    through stripe-mock."""
    stripe = {
        "SYMBIOSIS_STRIPE_API_KEY": STRIPE_API_KEY,
        "SYMBIOSIS_STRIPE_API_BASE": stripe_mock,
        "SYMBIOSIS_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SYMBIOSIS_SMTP_HOST": "127.0.0.1",
        "SYMBIOSIS_SMTP_PORT": str(mail_drop[1]),
        "SYMBIOSIS_SMTP_STARTTLS": "false",
        "SYMBIOSIS_LISTING_EXPIRY_CHECK_SECONDS": "1",
    }
    with running_stack(
        infra, stack_database, tmp_path_factory.mktemp("stack"), extra_env=stripe
    ) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        yield http
