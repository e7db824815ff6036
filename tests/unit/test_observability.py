"""Correlation ids and trace context, in one process with an in-memory exporter
(tests/e2e/test_observability.py follows them across the running services)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.observability import (
    carrier,
    configure_tracing,
    consuming,
    correlation_id_for,
    trace_id_of,
    tracer,
)
from symbiosis.gateway import route_at_edge

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("unit", exporter=exporter)
    yield exporter
    provider.shutdown()


def test_the_correlation_id_is_the_callers_trace_or_a_plain_id_or_a_new_one() -> None:
    assert correlation_id_for({"traceparent": PARENT}) == "0af7651916cd43dd8448eb211c80319c"
    # a traceparent wins over a correlation id the caller also sent
    both = {"traceparent": PARENT, "x-correlation-id": "order-4711-abc"}
    assert correlation_id_for(both) == "0af7651916cd43dd8448eb211c80319c"
    assert correlation_id_for({"x-correlation-id": "order-4711-abc"}) == "order-4711-abc"
    # what could smuggle text into logs or headers is not taken
    for bad in ("short", "x" * 65, "a b c d e f g", "id\nfake=1", "<script>alert</script>"):
        made = correlation_id_for({"x-correlation-id": bad})
        assert made != bad and len(made) == 32
    assert correlation_id_for({}) != correlation_id_for({})
    for bad in ("", "00-" + "0" * 32 + "-b7ad6b7169203331-01", "garbage", PARENT + "-x"):
        assert trace_id_of(bad) is None


def test_the_gateways_metric_labels_are_bounded() -> None:
    assert route_at_edge({"path": "/api/listings/listings/1"}) == "/api/listings"
    assert route_at_edge({"path": "/api/whatever-an-attacker-likes"}) == "/api/unknown"
    assert route_at_edge({"path": "/anything/at/all"}) == "portal"


def test_an_event_carries_its_context_to_the_consumers_span(
    exported: InMemorySpanExporter,
) -> None:
    with (
        tracer.start_as_current_span("POST /api/listings/listings") as request,
        structlog.contextvars.bound_contextvars(correlation_id="corr-0001-abcd"),
    ):
        headers = carrier()  # what enqueue writes into the outbox row
    assert headers["x-correlation-id"] == "corr-0001-abcd"
    assert trace_id_of(headers["traceparent"]) == format(
        request.get_span_context().trace_id, "032x"
    )

    seen: dict[str, object] = {}
    with consuming("listings.events.v1", headers, "listing.published", "corr-0001-abcd") as span:
        seen.update(structlog.contextvars.get_contextvars())
        assert span.get_span_context().trace_id == request.get_span_context().trace_id
        onward = carrier()  # what the handler's own events carry on
    assert seen["correlation_id"] == "corr-0001-abcd"
    assert "correlation_id" not in structlog.contextvars.get_contextvars()
    assert trace_id_of(onward["traceparent"]) == trace_id_of(headers["traceparent"])

    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    finished = {s.name: s for s in exported.get_finished_spans()}
    consumer = finished["listings.events.v1 process"]
    assert consumer.parent is not None
    assert consumer.parent.span_id == request.get_span_context().span_id
    assert consumer.kind == trace.SpanKind.CONSUMER
    assert consumer.attributes is not None
    assert consumer.attributes["symbiosis.event_type"] == "listing.published"


def test_without_an_exporter_nothing_is_recorded_but_the_ids_still_travel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    provider = configure_tracing("unit", install=False)
    try:
        with provider.get_tracer("test").start_as_current_span("GET /") as span:
            assert not span.is_recording()
            headers = carrier()
        assert trace_id_of(headers["traceparent"]) == format(
            span.get_span_context().trace_id, "032x"
        )
    finally:
        provider.shutdown()
