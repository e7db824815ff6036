"""The frame every service runs in: its schema, migrations, broker, relay and HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

from shared.auth import TokenVerifier, load_public_key
from shared.db import Pool, create_pool
from shared.events import Topic
from shared.http import EXCEPTION_HANDLERS, PUBLIC, BearerAuthentication
from shared.idempotency import IdempotencyMiddleware
from shared.kafka import create_broker, ensure_topics, outbox_publisher
from shared.migrations import migrate
from shared.outbox import OutboxRelay
from shared.revocations import subscribe_revocations
from shared.settings import Settings

RegisterConsumers = Callable[[KafkaBroker, Pool, Settings], None]


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service: its name (also its schema), parts and topics."""

    name: str
    title: str
    description: str
    migrations: Path
    route_handlers: Sequence[ControllerRouterHandler]
    produces: tuple[Topic, ...] = ()
    consumes: tuple[Topic, ...] = ()
    register_consumers: RegisterConsumers | None = None
    background: tuple[Callable[[Pool, Settings], Coroutine[Any, Any, None]], ...] = ()
    dependencies: dict[str, Provide] = field(default_factory=dict)

    @property
    def api_path(self) -> str:
        return f"/api/{self.name}"


def provide_pool(state: State) -> Pool:
    pool: Pool = state.pool
    return pool


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def create_service_app(spec: ServiceSpec, settings: Settings) -> Litestar:
    """The service's Litestar app; its lifespan runs migrations, consumers and the relay."""
    verifier = TokenVerifier(load_public_key(settings.public_key_path))

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.require_database_url(), spec.name)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, spec.name, spec.migrations)
            await ensure_topics(settings, (Topic.LISTINGS, *spec.produces, *spec.consumes))
            broker = create_broker(settings, client_id=f"symbiosis-{spec.name}")
            subscribe_revocations(broker, pool, settings, spec.name)
            if spec.register_consumers is not None:
                spec.register_consumers(broker, pool, settings)
            await broker.start()
            relay = OutboxRelay(
                pool,
                outbox_publisher(broker, settings.kafka_namespace),
                poll_interval=settings.outbox_poll_interval_seconds,
                batch_size=settings.outbox_batch_size,
            )
            relay_task = (
                asyncio.create_task(relay.run(), name=f"{spec.name}-outbox-relay")
                if settings.outbox_relay_enabled
                else None
            )
            tasks = [asyncio.create_task(job(pool, settings)) for job in spec.background]
            app.state.pool = pool
            app.state.broker = broker
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if relay_task is not None:
                    relay_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await relay_task
                await broker.stop()
        finally:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    @get("/health", opt={PUBLIC: True}, operation_id=f"{spec.name}_health", tags=["health"])
    async def health(state: State) -> dict[str, str]:
        """Ready when the database answers."""
        pool: Pool = state.pool
        await pool.fetchval("SELECT 1")
        return {"status": "ok", "service": spec.name}

    router = Router(
        path=spec.api_path,
        route_handlers=[health, *spec.route_handlers],
        dependencies={
            "pool": Provide(provide_pool, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            **spec.dependencies,
        },
    )
    return Litestar(
        route_handlers=[router],
        lifespan=[lifespan],
        state=State({"settings": settings}),
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(
                BearerAuthentication,
                verifier=verifier,
                exclude=[f"^{spec.api_path}/schema"],
            ),
            IdempotencyMiddleware(),
        ],
        openapi_config=OpenAPIConfig(
            title=spec.title,
            version="1",
            use_handler_docstrings=True,
            description=spec.description,
            path=f"{spec.api_path}/schema",
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A company API key: `Authorization: Bearer vpk_...`",
                    )
                }
            ),
            security=[{"ApiKey": []}],
        ),
        debug=False,
    )
