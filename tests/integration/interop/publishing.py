"""Write integration events exactly as the command service's publisher does (test helper).

Stream ``integration-{grid_id}``, revision ``sequence - 1``, deterministic event id, type
``rover.v1.<EventName>``, content type ``application/octet-stream``, data the binary
``rover.v1.IntegrationEvent``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from domain.events import GridCreated, GridEvent, RoverCreated, RoverMovedForward
from domain.values import Direction, GridId, Position, RoverId, Topology
from services.common.envelope import Envelope, integration_event_id, integration_stream
from services.common.integration import (
    INTEGRATION_CONTENT_TYPE,
    integration_event_type,
    to_proto,
)

__all__ = ["grid_history", "new_event", "publish"]


def new_event(envelope: Envelope) -> NewEvent:
    """The stored form of one integration event."""
    assert INTEGRATION_CONTENT_TYPE == "application/octet-stream"
    return NewEvent(
        id=envelope.event_id,
        type=integration_event_type(envelope.event),
        data=to_proto(envelope).SerializeToString(),
        content_type="application/octet-stream",
    )


def grid_history(grid_id: str, moves: int = 2) -> list[Envelope]:
    """GridCreated, RoverCreated, then ``moves`` RoverMovedForward of one rover heading north."""
    grid = GridId(grid_id)
    rover = RoverId("r1")
    events: list[GridEvent] = [
        GridCreated(
            grid_id=grid, width=5, height=5, topology=Topology.BOUNDED, obstacles=frozenset()
        ),
        RoverCreated(grid_id=grid, rover_id=rover, position=Position(0, 0), facing=Direction.N),
    ]
    events += [
        RoverMovedForward(
            grid_id=grid,
            rover_id=rover,
            from_position=Position(0, y),
            to_position=Position(0, y + 1),
            facing=Direction.N,
        )
        for y in range(moves)
    ]
    now = datetime.now(UTC)
    return [
        Envelope(
            event_id=integration_event_id(uuid.uuid5(uuid.NAMESPACE_URL, f"{grid_id}/{n}")),
            grid_id=grid,
            sequence=n,
            occurred_at=now,
            event=event,
        )
        for n, event in enumerate(events, start=1)
    ]


async def publish(client: AsyncEventStoreDBClient, envelopes: list[Envelope]) -> None:
    """Append envelopes of one grid at their revisions (idempotent by event id)."""
    if not envelopes:
        return
    first = envelopes[0].sequence
    current: int | StreamState = StreamState.NO_STREAM if first == 1 else first - 2
    await client.append_to_stream(
        integration_stream(str(envelopes[0].grid_id)),
        current_version=current,
        events=[new_event(e) for e in envelopes],
    )
