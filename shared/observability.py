"""What operators see of a running exchange: one correlation id and one trace per request,
followed through HTTP, the outbox, Kafka and the consumers, and Prometheus metrics.

- **Correlation id.** The gateway gives every request one (``X-Correlation-ID``): the
  trace id of the caller's ``traceparent`` when it sent one, the caller's own id when it is
  a plain token, else the trace id the gateway starts. Services bind it into every log line
  of the request (``correlation_id``), events carry it (``correlationid``), and consumers
  bind the event's into every log line of its handling.
- **Traces.** OpenTelemetry, configured by the standard environment variables
  (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
  ``OTEL_TRACES_SAMPLER``, ``OTEL_SERVICE_NAME``, ...). The context travels in
  ``traceparent``: from the gateway to the service, from the request into the outbox row's
  headers, from the row to the Kafka record, and from the record into the consumer's span,
  whose own events carry it on. Without an exporter nothing is recorded, but the ids still
  travel (the correlation id is the trace id).
- **Metrics.** ``/metrics`` on each service's own port (not through the gateway): HTTP
  requests and their latency, messages consumed (by outcome) and produced per topic,
  handler latency, dead letters, and, read when scraped, consumer lag per partition, the
  outbox backlog and the service's own queues (Stripe calls, e-mails, webhooks).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

CORRELATION_HEADER = "x-correlation-id"
TRACEPARENT = "traceparent"
# A correlation id a caller may choose: a plain token, nothing that could smuggle text into
# logs or headers.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")

tracer = trace.get_tracer("symbiosis")

# --- Metrics --------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "symbiosis_http_requests",
    "HTTP requests answered, by route and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "symbiosis_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMED = Counter(
    "symbiosis_messages_consumed",
    "Kafka records read, by topic, event type and outcome (handled, skipped, retried, "
    "dead_lettered).",
    ["topic", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "symbiosis_handler_duration_seconds",
    "Time a consumer's handler took for one event, by topic and event type.",
    ["topic", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PRODUCED = Counter(
    "symbiosis_messages_produced",
    "Events the outbox relay published and the broker acknowledged, by topic.",
    ["topic"],
)
DEAD_LETTERED = Counter(
    "symbiosis_dead_lettered",
    "Records sent to a dead-letter topic, by the topic they came from.",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "symbiosis_consumer_lag",
    "Records of a partition not yet consumed by this instance (high-water mark minus "
    "position), when scraped.",
    ["group", "topic", "partition"],
)
OUTBOX_UNSENT = Gauge("symbiosis_outbox_unsent", "Outbox rows not yet published, when scraped.")
OUTBOX_OLDEST = Gauge(
    "symbiosis_outbox_oldest_unsent_seconds",
    "Age of the oldest outbox row not yet published (0 when none), when scraped.",
)
QUEUE_DEPTH = Gauge(
    "symbiosis_queue_depth",
    "Work waiting in one of the service's queues (Stripe calls, e-mails, webhook "
    "deliveries), when scraped.",
    ["queue"],
)

# Read when /metrics is scraped: each sets gauges above.
Refresh = Callable[[], Awaitable[None]]


async def metrics_text(refreshers: list[Refresh]) -> tuple[bytes, str]:
    """The Prometheus exposition of this process, after the scrape-time gauges are read;
    a refresher that fails (the database is down) leaves its gauges as they were."""
    for refresh in refreshers:
        try:
            await refresh()
        except Exception as exc:  # a metric is never worth a failed scrape
            structlog.get_logger(__name__).warning("metric not read", error=repr(exc))
    return generate_latest(), CONTENT_TYPE_LATEST


async def consumer_lag(broker: Any) -> None:
    """Each assigned partition's lag (high-water mark minus this consumer's position)."""
    CONSUMER_LAG.clear()  # partitions that went to another instance are not ours to report
    for subscriber in broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is None:
            continue
        group = str(getattr(subscriber, "group_id", "") or "")
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue  # nothing fetched from it yet
            position = await asyncio.wait_for(consumer.position(partition), 2.0)
            CONSUMER_LAG.labels(group, partition.topic, str(partition.partition)).set(
                max(0, highwater - position)
            )


# --- Tracing --------------------------------------------------------------------------------


def _exporting() -> bool:
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(
    process: str, exporter: SpanExporter | None = None, *, install: bool = True
) -> TracerProvider:
    """This process's tracer provider (made the global one when ``install``). It exports
    (OTLP over HTTP, or ``exporter``) when the environment names an endpoint; otherwise
    spans are not recorded but their ids still travel, so the correlation id and
    ``traceparent`` mean the same everywhere."""
    resource = Resource.create(
        {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or f"symbiosis-{process}"}
    )
    exporting = exporter is not None or _exporting()
    sampler: Sampler | None = None if exporting else ParentBased(ALWAYS_OFF)
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporter is None and exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if install:
        global _recording
        trace.set_tracer_provider(provider)
        _recording = exporting
    return provider


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header, if it is one."""
    found = _TRACEPARENT.match((traceparent or "").strip().lower())
    if found is None or found[1] == "0" * 32:
        return None
    return found[1]


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def correlation_id_for(headers: Mapping[str, str]) -> str:
    """The correlation id of a request arriving at the edge (see the module's text)."""
    from_trace = trace_id_of(headers.get(TRACEPARENT))
    if from_trace:
        return from_trace
    given = headers.get(CORRELATION_HEADER, "").strip()
    if _PLAIN_ID.match(given):
        return given
    return current_trace_id() or uuid.uuid4().hex


def carrier() -> dict[str, str]:
    """Headers that carry the current trace context and correlation id onward (to a
    service, into an outbox row, onto a Kafka record)."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    correlation = structlog.contextvars.get_contextvars().get("correlation_id")
    if correlation:
        headers[CORRELATION_HEADER] = str(correlation)
    return headers


# Whether consumer spans can be recorded in this process: false once ``configure_tracing``
# installed a provider that exports nothing, and then ``consuming`` makes no span at all.
_recording = True
_TRACE_HEADERS = frozenset({TRACEPARENT, "tracestate", "baggage"})

Headers = Mapping[str, str] | Iterable[tuple[str, bytes]]


def _trace_headers(headers: Headers) -> dict[str, str]:
    """The headers that carry trace context, as text (a Kafka record's are bytes)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {
        key: value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        for key, value in pairs
        if key in _TRACE_HEADERS
    }


@contextmanager
def consuming(
    topic: str, headers: Headers, event_type: str, correlation_id: str, **attributes: Any
) -> Iterator[trace.Span]:
    """A consumer's span for one event, a child of the span that enqueued it, with the
    event's correlation id bound into every log line of its handling. When this process
    records no spans, none is made: the enqueuing span's context is made current instead,
    so the handler's log lines and its own events still carry the trace id."""
    parent = propagate.extract(_trace_headers(headers))
    if not _recording:
        span = trace.get_current_span(parent)
        context = span.get_span_context()
        token = otel_context.attach(parent)
        try:
            with structlog.contextvars.bound_contextvars(
                correlation_id=correlation_id,
                trace_id=format(context.trace_id, "032x") if context.is_valid else None,
            ):
                yield span
        finally:
            otel_context.detach(token)
        return
    with (
        tracer.start_as_current_span(
            f"{topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
                "symbiosis.event_type": event_type,
                "symbiosis.correlation_id": correlation_id,
                **{
                    name: str(value) if isinstance(value, uuid.UUID) else value
                    for name, value in attributes.items()
                },
            },
        ) as span,
        structlog.contextvars.bound_contextvars(
            correlation_id=correlation_id, trace_id=current_trace_id()
        ),
    ):
        yield span


def failed(span: trace.Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


# --- HTTP -----------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}


def route_of(scope: Scope) -> str:
    """The route a request took, as its template (``/api/listings/listings/{listing_id}``):
    few label values whatever the paths; a path no route matched is ``unmatched``."""
    template = scope.get("path_template")
    return template if isinstance(template, str) and template else "unmatched"


class Observed:
    """ASGI middleware of every service: a server span (a child of the caller's
    ``traceparent``), the request's correlation id bound into its log lines and answered
    in ``X-Correlation-ID``, and its count and latency in the metrics. ``/metrics`` itself
    is not counted."""

    def __init__(self, app: ASGIApp, routes: Callable[[Scope], str] = route_of) -> None:
        self.app = app
        self.routes = routes

    def __getattr__(self, name: str) -> Any:  # the wrapped app's state, for tests and tools
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        method = str(scope.get("method", ""))
        parent = propagate.extract(headers)
        started = time.perf_counter()
        status = 500
        with tracer.start_as_current_span(
            f"{method} {scope.get('path', '')}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": str(scope.get("path", ""))},
        ) as span:
            correlation = correlation_id_for(headers)
            answer = [(b"x-correlation-id", correlation.encode("latin-1"))]
            if headers.get(CORRELATION_HEADER) != correlation:  # what the handlers read
                scope["headers"] = [
                    *(h for h in scope.get("headers", ()) if h[0].lower() != b"x-correlation-id"),
                    *answer,
                ]

            async def sent(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    message["headers"] = [
                        *(
                            h
                            for h in message.get("headers", ())
                            if h[0].lower() != b"x-correlation-id"
                        ),
                        *answer,
                    ]
                await send(message)

            try:
                with structlog.contextvars.bound_contextvars(
                    correlation_id=correlation, trace_id=current_trace_id()
                ):
                    await self.app(scope, receive, sent)
            finally:
                route = self.routes(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
                HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)
