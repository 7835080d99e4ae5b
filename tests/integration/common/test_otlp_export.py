"""``OTEL_TRACES_EXPORTER=otlp`` sends spans to a collector (here a real OTLP receiver), by
gRPC or by HTTP as ``OTEL_EXPORTER_OTLP_PROTOCOL`` says, to ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from services.common.tracing_setup import tracer_provider_from_env

Received = queue.Queue[trace_service_pb2.ExportTraceServiceRequest]


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self._received = received

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._received.put(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_collector() -> Iterator[tuple[str, Received]]:
    received: Received = queue.Queue()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    register: Any = trace_service_pb2_grpc.add_TraceServiceServicer_to_server  # untyped
    register(_Collector(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", received
    server.stop(None)


@pytest.fixture
def http_collector() -> Iterator[tuple[str, Received]]:
    received: Received = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.put(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("protocol", "collector"), [
    ("grpc", "grpc_collector"),
    ("http/protobuf", "http_collector"),
])  # fmt: skip
def test_spans_reach_the_collector_named_by_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, protocol: str, collector: str
) -> None:
    endpoint, received = request.getfixturevalue(collector)
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    provider = tracer_provider_from_env("query")
    assert provider is not None
    with provider.get_tracer("test").start_as_current_span("rover.project"):
        pass
    provider.force_flush()
    export = received.get(timeout=30)
    provider.shutdown()
    (resource_spans,) = export.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "rover-query"
    assert [s.name for scope in resource_spans.scope_spans for s in scope.spans] == [
        "rover.project"
    ]
