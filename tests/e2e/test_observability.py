"""What operators see (issue 14): one trace and one correlation id follow a listing from its
POST, through the gateway, listings, Kafka, matching, contracts and notifications, to the
inbox notes of both parties; every log line of the chain carries the correlation id; and
each service's /metrics counts it.

The stack exports its spans the way an operator's would, by OTLP over HTTP to the endpoint
in ``OTEL_EXPORTER_OTLP_ENDPOINT``: here a collector of the test's own on the loopback.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared.settings import SERVICES, Settings
from tests.conftest import create_database
from tests.support import Infra, Stack, eventually, register_company, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: keeps every span it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def of_trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found: list[Span] = []
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {
                        a.key: a.value.string_value or a.value.int_value for a in span.attributes
                    }
                    found.append(
                        Span(
                            service,
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.kind,
                            attributes,
                        )
                    )
        with self.server.lock:
            self.server.spans.extend(found)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
async def traced_database(infra: Infra) -> str:
    return await create_database(infra)


@pytest.fixture(scope="module")
def traced(
    infra: Infra,
    traced_database: str,
    collector: Collector,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A stack of its own that exports its traces to the collector, as an operator's would."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with running_stack(
        infra, traced_database, tmp_path_factory.mktemp("traced"), extra_env=env
    ) as stack:
        yield stack


def listing(kind: str) -> dict[str, Any]:
    # Blast-furnace slag: a code no other test trades on this stack either.
    return {
        "kind": kind,
        "ewc_code": "10 02 02",
        "title": f"Slag {kind}",
        "quantity": "30",
        "unit": "t",
    }


async def test_one_trace_and_one_correlation_id_follow_a_listing_to_both_inboxes(
    traced: Stack, collector: Collector
) -> None:
    async with httpx.AsyncClient(base_url=traced.url, timeout=15) as client:
        works = await register_company(client, "Trace Stålverk AS")
        builder = await register_company(client, "Trace Veibygg AS")
        offered = await client.post(
            "/api/listings/listings/", json=listing("offer"), headers=works["headers"]
        )
        assert offered.status_code == 201, offered.text
        # The need completes the pair: its POST sets off the proposal and both notes.
        posted = await client.post(
            "/api/listings/listings/", json=listing("need"), headers=builder["headers"]
        )
        assert posted.status_code == 201, posted.text
        correlation = posted.headers["x-correlation-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", correlation), correlation
        assert correlation != offered.headers["x-correlation-id"]

        async def notes(company: dict[str, Any]) -> list[dict[str, Any]]:
            answer = await client.get("/api/notifications/inbox/", headers=company["headers"])
            return list(answer.json())

        async def both_told() -> bool:
            return bool(await notes(works)) and bool(await notes(builder))

        await eventually(both_told, timeout=60)

        # A caller's own traceparent is honoured: its trace id is the correlation id.
        theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        echoed = await client.get(
            "/api/listings/companies/me", headers={**works["headers"], "traceparent": theirs}
        )
        assert echoed.headers["x-correlation-id"] == "0af7651916cd43dd8448eb211c80319c"

        # The operators' metrics are on each service's own port, never through the gateway.
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/api/listings/metrics")).status_code in (401, 404)

    # The trace: every hop, each span a child of one in the same trace.
    wanted = {
        "symbiosis-gateway",
        "symbiosis-listings",
        "symbiosis-matching",
        "symbiosis-contracts",
        "symbiosis-notifications",
    }

    def spans_of() -> list[Span]:
        return collector.of_trace(correlation)

    async def whole() -> bool:
        spans = spans_of()
        consumed = {(s.service, s.attributes.get("symbiosis.event_type")) for s in spans}
        return wanted <= {s.service for s in spans} and (
            ("symbiosis-notifications", "trade.proposed") in consumed
        )

    try:
        await eventually(whole, timeout=90)  # spans are exported in batches, every few seconds
    except AssertionError:
        seen = sorted(
            {(s.service, s.name, s.attributes.get("symbiosis.event_type")) for s in spans_of()}
        )
        pytest.fail(f"the trace {correlation} never showed every hop; its spans: {seen}")
    spans = collector.of_trace(correlation)
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_id or s.parent_id == "0" * 16]
    assert [r.service for r in roots] == ["symbiosis-gateway"], roots
    assert all(s.parent_id in ids for s in spans if s not in roots), spans
    matching = [s for s in spans if s.service == "symbiosis-matching"]
    assert any(
        s.attributes.get("symbiosis.event_type") == "listing.published"
        and s.attributes.get("messaging.destination.name", "").endswith("listings.events.v1")
        for s in matching
    ), matching
    notified = [
        s
        for s in spans
        if s.service == "symbiosis-notifications"
        and s.attributes.get("symbiosis.event_type") == "trade.proposed"
    ]
    assert notified and all(
        s.attributes.get("symbiosis.correlation_id") == correlation for s in notified
    )

    # The correlation id is in the log lines of every service the listing passed through.
    await asyncio.sleep(0.5)
    for name in ("gateway", *SERVICES):
        lines = [json.loads(line) for line in traced.log(name).splitlines() if line.startswith("{")]
        assert any(line.get("correlation_id") == correlation for line in lines), name

    # And the metrics count it: requests, events produced and consumed, lag, backlog, queues.
    settings = Settings(http_port=traced.http_port)
    scraped = {}
    async with httpx.AsyncClient(timeout=15) as plain:
        for service in SERVICES:
            answer = await plain.get(f"http://127.0.0.1:{settings.service_port(service)}/metrics")
            assert answer.status_code == 200, answer.text
            scraped[service] = answer.text
        portal = await plain.get(f"http://127.0.0.1:{settings.portal_port}/metrics")
        assert portal.status_code == 200
    assert re.search(
        r'symbiosis_http_requests_total\{method="POST",route="/api/listings/listings",'
        r'status="201"\} [1-9]',
        scraped["listings"],
    ), scraped["listings"]
    assert re.search(
        r'symbiosis_messages_produced_total\{topic="[^"]*listings\.events\.v1"\} [1-9]',
        scraped["listings"],
    )
    assert re.search(
        r'symbiosis_messages_consumed_total\{outcome="handled",'
        r'topic="[^"]*matching\.proposals\.v1",type="trade\.proposed"\} [1-9]',
        scraped["notifications"],
    ), scraped["notifications"]
    assert re.search(
        r'symbiosis_handler_duration_seconds_count\{topic="[^"]*listings\.events\.v1",'
        r'type="listing\.published"\} [1-9]',
        scraped["matching"],
    ), scraped["matching"]
    assert re.search(r"symbiosis_consumer_lag\{group=", scraped["matching"])
    assert re.search(r"symbiosis_outbox_unsent \d", scraped["contracts"])
    assert re.search(r'symbiosis_queue_depth\{queue="emails"\} \d', scraped["notifications"])
    assert re.search(r'symbiosis_queue_depth\{queue="stripe_invoices"\} \d', scraped["contracts"])
