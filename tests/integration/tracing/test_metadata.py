"""What a consumer reading the stored events finds in their metadata (through esdbclient).

Domain events (``grid-*``) and integration events (``integration-*``) carry EventStoreDB's
``$correlationId`` and ``$causationId`` whether tracing is on or off, and ``$traceId`` /
``$spanId`` as KurrentDB's client instrumentation writes them when it is on. Events stored
before these keys existed still load and publish.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from esdbclient import AsyncEventStoreDBClient, NewEvent, RecordedEvent, StreamState
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from protos.rover.v1 import command_pb2, common_pb2
from services.common import tracing_setup
from services.common.correlation import CAUSATION_ID, CORRELATION_ID, SPAN_ID, TRACE_ID
from services.common.envelope import integration_event_id
from tests.integration.tracing.system import SAFETY, running_system
from tests.support.eventstore import connected_async_client

HEX32, HEX16 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{16}")


async def _stream(client: AsyncEventStoreDBClient, name: str, count: int) -> list[RecordedEvent]:
    """The first ``count`` events of a stream, once there are that many."""
    async with asyncio.timeout(SAFETY):
        while True:
            found = await client.get_stream(name, limit=count)
            if len(found) >= count:
                return list(found)
            await asyncio.sleep(0.02)


def _metadata(recorded: RecordedEvent) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(recorded.metadata)
    return body


async def _move(esdb_uri: str, redis_url: str, grid_id: str, request_id: str) -> None:
    async with running_system(esdb_uri, redis_url) as system:
        await system.create_grid_with_rover(grid_id)
        await system.commands.MoveRoverForward(
            command_pb2.MoveRoverForwardRequest(
                request_id=request_id, grid_id=grid_id, rover_id="r1"
            ),
            timeout=SAFETY,
        )
        await system.visible(grid_id, 3)


async def test_traced_events_carry_correlation_causation_and_the_trace(
    esdb_uri: str, redis_url: str, spans: InMemorySpanExporter
) -> None:
    grid_id = f"meta-{uuid.uuid4().hex[:8]}"
    await _move(esdb_uri, redis_url, grid_id, "request-7")
    async with connected_async_client(esdb_uri) as client:
        domain = (await _stream(client, f"grid-{grid_id}", 3))[2]
        integration = (await _stream(client, f"integration-{grid_id}", 3))[2]

    stored = _metadata(domain)
    assert stored["request_id"] == "request-7"  # the keys other code reads are kept
    assert stored["command"] == "MoveRoverForward"
    assert (stored[CORRELATION_ID], stored[CAUSATION_ID]) == ("request-7", "request-7")
    assert HEX32.fullmatch(stored[TRACE_ID])
    assert HEX16.fullmatch(stored[SPAN_ID])
    # The span the domain event names is the command's append, in the command's trace.
    (append,) = [
        s
        for s in spans.get_finished_spans()
        if s.name == "rover.grid.append" and f"{s.context.span_id:016x}" == stored[SPAN_ID]
    ]
    assert f"{append.context.trace_id:032x}" == stored[TRACE_ID]

    published = _metadata(integration)
    assert published[CORRELATION_ID] == "request-7"
    assert published[CAUSATION_ID] == str(domain.id)  # caused by the domain event
    assert integration.id == integration_event_id(domain.id)
    assert published[TRACE_ID] == stored[TRACE_ID]  # one trace: the command's
    (publish,) = [
        s
        for s in spans.get_finished_spans()
        if s.name == "rover.publish" and f"{s.context.span_id:016x}" == published[SPAN_ID]
    ]
    assert publish.parent is not None
    assert publish.parent.span_id == append.context.span_id
    assert "occurred_at" in published


async def test_untraced_events_carry_correlation_and_causation_only(
    esdb_uri: str, redis_url: str
) -> None:
    assert tracing_setup.server_interceptors() == []  # off: the default
    grid_id = f"plain-{uuid.uuid4().hex[:8]}"
    await _move(esdb_uri, redis_url, grid_id, "request-8")
    async with connected_async_client(esdb_uri) as client:
        created, _, moved = await _stream(client, f"grid-{grid_id}", 3)
        integration = await _stream(client, f"integration-{grid_id}", 3)

    for recorded in (created, moved, *integration):
        assert TRACE_ID not in _metadata(recorded)
        assert SPAN_ID not in _metadata(recorded)
    assert _metadata(moved)[CORRELATION_ID] == _metadata(moved)[CAUSATION_ID] == "request-8"
    for domain, published in zip((created, moved), (integration[0], integration[2]), strict=True):
        assert _metadata(published)[CORRELATION_ID] == _metadata(domain)[CORRELATION_ID]
        assert _metadata(published)[CAUSATION_ID] == str(domain.id)


async def test_a_command_without_request_id_gets_a_generated_correlation_id(
    esdb_uri: str, redis_url: str
) -> None:
    grid_id = f"anon-{uuid.uuid4().hex[:8]}"
    async with running_system(esdb_uri, redis_url) as system:
        await system.create_grid_with_rover(grid_id)
        for _ in range(2):
            await system.commands.ExecuteRoverCommands(
                command_pb2.ExecuteRoverCommandsRequest(
                    grid_id=grid_id, rover_id="r1", commands="RR"
                ),
                timeout=SAFETY,
            )
    async with connected_async_client(esdb_uri) as client:
        events = (await _stream(client, f"grid-{grid_id}", 6))[2:]
    ids = [_metadata(e)[CORRELATION_ID] for e in events]
    assert all(uuid.UUID(i) for i in ids)
    assert ids[0] == ids[1] != ids[2] == ids[3]  # one per command, shared by its events
    assert [_metadata(e)[CAUSATION_ID] for e in events] == ids


async def test_events_stored_before_correlation_still_load_and_publish(
    esdb_uri: str, redis_url: str, spans: InMemorySpanExporter
) -> None:
    grid_id = f"old-{uuid.uuid4().hex[:8]}"
    old = {"occurred_at": "2026-01-01T00:00:00+00:00", "command": "CreateGrid"}
    async with connected_async_client(esdb_uri) as client:
        await client.append_to_stream(
            f"grid-{grid_id}",
            current_version=StreamState.NO_STREAM,
            events=[
                NewEvent(
                    type="GridCreated.v2",
                    data=json.dumps(
                        {
                            "grid_id": grid_id,
                            "width": 5,
                            "height": 5,
                            "topology": "BOUNDED",
                            "obstacles": [],
                        }
                    ).encode(),
                    metadata=json.dumps(old).encode(),
                )
            ],
        )
    async with running_system(esdb_uri, redis_url) as system:
        await system.commands.CreateRover(
            command_pb2.CreateRoverRequest(
                grid_id=grid_id,
                rover_id="r1",
                request_id="new",
                position=common_pb2.Position(x=1, y=1),
                facing=common_pb2.DIRECTION_EAST,
            ),
            timeout=SAFETY,
        )
        details = await system.visible(grid_id, 2)
    assert [r.rover_id for r in details.rovers] == ["r1"]
    async with connected_async_client(esdb_uri) as client:
        first = (await _stream(client, f"integration-{grid_id}", 2))[0]
    published = _metadata(first)
    assert published[CORRELATION_ID] == ""  # nothing to carry on from
    assert TRACE_ID in published  # the publisher's own span starts the trace
