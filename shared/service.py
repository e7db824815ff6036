"""The frame every service runs in: its schema, migrations, broker, relay and HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from faststream.kafka import KafkaBroker
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware, DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp, ControllerRouterHandler, Message, Receive, Scope, Send
from pydantic import BaseModel, Field

from shared.auth import TokenVerifier, load_public_key
from shared.db import LENT_POOL, Pool, RequestPool, create_pool, lent_pool
from shared.health import readiness
from shared.http import (
    EXCEPTION_HANDLERS,
    PUBLIC,
    BearerAuthentication,
    document_problems,
    refuse_unstorable_input,
)
from shared.idempotency import IdempotencyMiddleware, request_pool
from shared.kafka import create_broker, outbox_publisher, wait_for_topics
from shared.migrations import migrate
from shared.observability import (
    OUTBOX_OLDEST,
    OUTBOX_UNSENT,
    QUEUE_DEPTH,
    consumer_lag,
    metrics_text,
)
from shared.operations import OperationsController, operations_lifespan
from shared.outbox import RELAY, OutboxRelay, backlog
from shared.retention import prune_periodically
from shared.revocations import subscribe_revocations
from shared.settings import Settings
from shared.topology import TOPOLOGY
from shared.workers import WorkerRuntime

# The service's own settings class (``services/<name>/config.py``).
S = TypeVar("S", bound=Settings)
# A service's own queues, read when /metrics is scraped: queue name -> work waiting.
Queues = Callable[[Pool], Awaitable[dict[str, float]]]


@dataclass(frozen=True)
class ServiceSpec(Generic[S]):
    """What makes one service: its name (also its schema), parts and topics; its consumers and
    background jobs take the service's own settings."""

    name: str
    title: str
    description: str
    migrations: Path
    route_handlers: Sequence[ControllerRouterHandler]
    register_consumers: Callable[[KafkaBroker, Pool, S], None] | None = None
    background: tuple[Callable[[Pool, S], Coroutine[Any, Any, None]], ...] = ()
    dependencies: dict[str, Provide] = field(default_factory=dict)
    queues: Queues | None = None

    @property
    def api_path(self) -> str:
        return f"/api/{self.name}"


class Readiness(BaseModel):
    """Whether the service can do its work, and what each of its parts says."""

    status: Literal["ok", "unavailable"]
    service: str
    checks: dict[str, dict[str, Any]] = Field(
        description="database, broker, consumers (each group: joined, partitions) and "
        "outbox (relay running, unsent rows, age of the oldest)."
    )


def provide_pool(request: Request[Any, Any, Any]) -> Pool:
    """The service's pool as this request sees it: for a POST with an Idempotency-Key, that
    request's transaction; otherwise the request's one connection (``LendConnection``)."""
    pool: Pool = lent_pool(request.scope) or request.app.state.pool
    return request_pool(request.scope, pool)


class LendConnection(ASGIMiddleware):
    """One pool checkout per HTTP request: the request gets a ``RequestPool`` that checks a
    connection out on its first statement and keeps it for the rest of the request (the
    revocation check of ``BearerAuthentication``, the idempotency claim, the handler's
    queries), and gives it back when the answer starts, or when the request ends without
    one. Outermost, so that every later layer finds it."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        pool: Pool | None = getattr(scope["app"].state, "pool", None)
        if pool is None:  # not started (or not started yet): nothing to lend
            await next_app(scope, receive, send)
            return
        lent = RequestPool(pool)
        scope.setdefault("state", {})[LENT_POOL] = lent

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                await lent.answered()
            await send(message)

        try:
            await next_app(scope, receive, sending)
        finally:
            await lent.answered()


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def http_middleware(verifier: TokenVerifier, api_path: str) -> list[Any]:
    """What every request of a service passes through, outermost first: its one pool
    checkout, the bearer credential (but the API's schema), the Idempotency-Key."""
    return [
        LendConnection(),
        DefineMiddleware(BearerAuthentication, verifier=verifier, exclude=[f"^{api_path}/schema"]),
        IdempotencyMiddleware(),
    ]


def create_service_app(spec: ServiceSpec[S], settings: S) -> Litestar:
    """The service's Litestar app; its lifespan runs migrations, consumers and the relay."""
    verifier = TokenVerifier(load_public_key(settings.public_key_path))

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.require_database_url(), spec.name)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, spec.name, spec.migrations)
            await wait_for_topics(settings, spec.name, TOPOLOGY[spec.name].topics)
            broker = create_broker(settings, spec.name)
            register = spec.register_consumers
            subscribe_revocations(
                broker,
                pool,
                settings,
                spec.name,
                (lambda: register(broker, pool, settings))
                if register is not None
                else lambda: None,
            )
            await broker.start()
            relay = OutboxRelay(
                pool,
                outbox_publisher(broker, settings.kafka_namespace),
                poll_interval=settings.outbox_poll_interval_seconds,
                batch_size=settings.outbox_batch_size,
            )
            workers = WorkerRuntime()
            if settings.outbox_relay_enabled:
                workers.start(RELAY, relay.run)
            for job in (*spec.background, prune_periodically):
                workers.start(job.__name__, functools.partial(job, pool, settings))
            app.state.pool = pool
            app.state.broker = broker
            app.state.workers = workers
            try:
                yield
            finally:
                await workers.stop()
                await broker.stop()
        finally:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    @get(
        "/health",
        opt={PUBLIC: True},
        operation_id=f"{spec.name}_health",
        tags=["health"],
        responses={503: ResponseSpec(Readiness, description="Cannot do its work now.")},
    )
    async def health(state: State) -> Response[Readiness]:
        """Ready (200) when the database and the broker answer, every consumer group has
        its partitions and every background loop (the outbox relay first) runs; 503 with
        the part that cannot."""
        ok, checks = await readiness(state.pool, state.broker, state.workers)
        return Response(
            Readiness(status="ok" if ok else "unavailable", service=spec.name, checks=checks),
            status_code=200 if ok else 503,
            headers={} if ok else {"Retry-After": "5"},
        )

    @get("/live", opt={PUBLIC: True}, include_in_schema=False)
    async def live() -> dict[str, str]:
        """Liveness: the process serves requests. It asks nothing else, so an orchestrator
        that restarts by it does not restart every instance while the database or the
        broker is away (that is readiness, ``/health``, which answers 503 then)."""
        return {"status": "ok", "service": spec.name}

    @get("/metrics", opt={PUBLIC: True}, include_in_schema=False)
    async def metrics(state: State) -> Response[bytes]:
        """Prometheus metrics of this process (on the service's own port; the gateway does
        not pass /metrics on)."""
        pool: Pool = state.pool
        broker: KafkaBroker = state.broker

        async def outbox() -> None:
            unsent, oldest = await backlog(pool)
            OUTBOX_UNSENT.set(unsent)
            OUTBOX_OLDEST.set(oldest)

        async def queues() -> None:
            if spec.queues is not None:
                for name, depth in (await spec.queues(pool)).items():
                    QUEUE_DEPTH.labels(name).set(depth)

        body, media_type = await metrics_text(
            [
                outbox,
                functools.partial(consumer_lag, broker),
                queues,
            ]
        )
        return Response(body, media_type=media_type)

    router = Router(
        path=spec.api_path,
        route_handlers=[health, live, OperationsController, *spec.route_handlers],
        dependencies={
            "pool": Provide(provide_pool, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            **spec.dependencies,
        },
    )
    app = Litestar(
        route_handlers=[router, metrics],
        lifespan=[lifespan, operations_lifespan],
        state=State({"settings": settings, "service": spec.name}),
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=refuse_unstorable_input,
        logging_config=None,  # shared.logs configures logging once per process
        middleware=http_middleware(verifier, spec.api_path),
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
    document_problems(app.openapi_schema)
    return app
