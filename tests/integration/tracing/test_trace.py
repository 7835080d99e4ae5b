"""One command, one trace: from the client's call to the projection commit and the watchers.

The three services run in this test's loop against a real store and Redis, with tracing on
and an in-memory exporter; the trace is assembled from what the exporter received.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind

from protos.rover.v1 import command_pb2
from services.common import tracing_setup
from tests.integration.broadcaster.helpers import Watcher
from tests.integration.tracing.system import SAFETY, running_system

COMMAND_RPC = "/rover.v1.RoverCommandService/MoveRoverForward"


def _one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def _finished(
    exporter: InMemorySpanExporter, trace_id: int, names: set[str]
) -> list[ReadableSpan]:
    """The spans of ``trace_id`` once every one of ``names`` has ended (consumers run later)."""
    async with asyncio.timeout(SAFETY):
        while True:
            spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
            if names <= {s.name for s in spans}:
                return spans
            await asyncio.sleep(0.02)


async def test_one_command_is_one_trace_through_every_hop(
    esdb_uri: str, redis_url: str, spans: InMemorySpanExporter
) -> None:
    grid_id = f"traced-{uuid.uuid4().hex[:8]}"
    async with running_system(esdb_uri, redis_url) as system:
        await system.create_grid_with_rover(grid_id)  # published and projected: out of the way
        watcher = Watcher(system.live_address, grid_id)
        watching = asyncio.create_task(watcher.run(until=3))
        async with asyncio.timeout(SAFETY):
            while system.broadcaster.parts.hub.watcher_count == 0:  # noqa: ASYNC110 - the hub's
                await asyncio.sleep(0.01)
        system.command.parts.repository.evict(grid_id)  # read from the store, as after a restart
        spans.clear()

        result = await system.commands.MoveRoverForward(
            command_pb2.MoveRoverForwardRequest(
                request_id="move-1", grid_id=grid_id, rover_id="r1"
            ),
            timeout=SAFETY,
        )
        assert result.version == 3
        await system.visible(grid_id, 3)
        await watching
        assert watcher.sequences() == [3]

        (client,) = [  # the caller's span (the client interceptor)
            s
            for s in spans.get_finished_spans()
            if s.name == COMMAND_RPC and s.kind is SpanKind.CLIENT
        ]
        trace = await _finished(
            spans,
            client.context.trace_id,
            {
                "rover.grid.load",
                "rover.grid.append",
                "rover.publish",
                "rover.project",
                "rover.broadcast",
            },
        )

    (server,) = [s for s in trace if s.name == COMMAND_RPC and s.kind is SpanKind.SERVER]
    load, append = _one(trace, "rover.grid.load"), _one(trace, "rover.grid.append")
    publish = _one(trace, "rover.publish")
    project, broadcast = _one(trace, "rover.project"), _one(trace, "rover.broadcast")
    # The server continues the client's call (W3C traceparent); load and append are its steps.
    assert _parent_id(server) == client.context.span_id
    assert _parent_id(load) == server.context.span_id
    assert _parent_id(append) == server.context.span_id
    # The publisher carries on from the append (the domain event's $traceId/$spanId); the
    # projector's batch and the broadcaster's delivery from the publication.
    assert publish.kind is SpanKind.PRODUCER
    assert _parent_id(publish) == append.context.span_id
    assert _parent_id(project) == publish.context.span_id
    assert _parent_id(broadcast) == publish.context.span_id
    assert (project.kind, broadcast.kind) == (SpanKind.CONSUMER, SpanKind.CONSUMER)
    assert server.attributes is not None
    assert server.attributes["rover.grid.cached"] is False
    assert broadcast.attributes is not None
    assert broadcast.attributes["rover.watchers"] == 1
    assert broadcast.attributes["rover.sequence"] == 3
    # The projector's Redis commit is a span of the batch (the Redis instrumentation).
    redis = [s for s in trace if _parent_id(s) == project.context.span_id]
    assert redis
    assert all(s.kind is SpanKind.CLIENT for s in redis)
    assert {s.attributes.get("db.system") for s in redis if s.attributes} == {"redis"}


async def test_tracing_turned_off_makes_no_spans(esdb_uri: str, redis_url: str) -> None:
    """Off (here: on, then off again) no hop makes a span, Redis calls included."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing_setup.enable(provider)
    tracing_setup.disable()
    grid_id = f"untraced-{uuid.uuid4().hex[:8]}"
    async with running_system(esdb_uri, redis_url) as system:
        await system.create_grid_with_rover(grid_id)
        watcher = Watcher(system.live_address, grid_id, from_version=0)
        watching = asyncio.create_task(watcher.run(until=3))
        await system.commands.MoveRoverForward(
            command_pb2.MoveRoverForwardRequest(grid_id=grid_id, rover_id="r1"), timeout=SAFETY
        )
        await system.visible(grid_id, 3)
        await watching
    assert watcher.sequences() == [1, 2, 3]
    assert exporter.get_finished_spans() == ()
    provider.shutdown()


async def test_health_checks_and_excluded_services_make_no_spans(
    esdb_uri: str,
    redis_url: str,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "rover.v1.RoverQueryService")
    grid_id = f"filtered-{uuid.uuid4().hex[:8]}"
    async with running_system(esdb_uri, redis_url) as system:
        await system.create_grid_with_rover(grid_id)  # GetGridDetails: excluded
        async with grpc.aio.insecure_channel(
            system.command.address, interceptors=tracing_setup.client_interceptors()
        ) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=SAFETY)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    names = {s.name for s in spans.get_finished_spans()}
    assert "/rover.v1.RoverCommandService/CreateRover" in names  # traced, as before
    assert not any(
        name.startswith(("/grpc.health.", "/rover.v1.RoverQueryService/")) for name in names
    )
