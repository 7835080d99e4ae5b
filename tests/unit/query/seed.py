"""Integration event histories for the query tests (the seed's command flow and friends)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.events import (
    GridCreated,
    GridEvent,
    RoverCreated,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedRight,
)
from domain.values import Direction, GridId, Position, RoverId, Topology
from services.common.envelope import Envelope, integration_event_id

__all__ = ["envelopes", "rover_walk", "seed_history"]

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def envelopes(grid_id: str, events: list[GridEvent], first: int = 1) -> list[Envelope]:
    """Number ``events`` from sequence ``first`` with deterministic ids and times."""
    return [
        Envelope(
            event_id=integration_event_id(uuid.uuid5(uuid.NAMESPACE_URL, f"{grid_id}/{n}")),
            grid_id=GridId(grid_id),
            sequence=n,
            occurred_at=_EPOCH + timedelta(seconds=n),
            event=event,
        )
        for n, event in enumerate(events, start=first)
    ]


def seed_history(grid_id: str = "plateau") -> list[Envelope]:
    """The seed's flow: GridCreated, RoverCreated, F, F, R, F, B -> r1 at (1, 4) facing E, v7."""
    g, r = GridId(grid_id), RoverId("r1")
    return envelopes(
        grid_id,
        [
            GridCreated(
                grid_id=g,
                width=6,
                height=6,
                topology=Topology.BOUNDED,
                obstacles=frozenset({Position(4, 4), Position(0, 5)}),
            ),
            RoverCreated(grid_id=g, rover_id=r, position=Position(1, 2), facing=Direction.N),
            RoverMovedForward(
                grid_id=g,
                rover_id=r,
                from_position=Position(1, 2),
                to_position=Position(1, 3),
                facing=Direction.N,
            ),
            RoverMovedForward(
                grid_id=g,
                rover_id=r,
                from_position=Position(1, 3),
                to_position=Position(1, 4),
                facing=Direction.N,
            ),
            RoverTurnedRight(
                grid_id=g,
                rover_id=r,
                position=Position(1, 4),
                from_facing=Direction.N,
                to_facing=Direction.E,
            ),
            RoverMovedForward(
                grid_id=g,
                rover_id=r,
                from_position=Position(1, 4),
                to_position=Position(2, 4),
                facing=Direction.E,
            ),
            RoverMovedBackward(
                grid_id=g,
                rover_id=r,
                from_position=Position(2, 4),
                to_position=Position(1, 4),
                facing=Direction.E,
            ),
        ],
    )


def rover_walk(grid_id: str, rovers: int, moves: int, width: int = 1_000) -> list[Envelope]:
    """A grid with ``rovers`` rovers in row 0 facing N, then ``moves`` forward moves in turn."""
    g = GridId(grid_id)
    events: list[GridEvent] = [
        GridCreated(
            grid_id=g,
            width=width,
            height=1_000_000,
            topology=Topology.BOUNDED,
            obstacles=frozenset(),
        )
    ]
    events += [
        RoverCreated(
            grid_id=g, rover_id=RoverId(f"r{i:04d}"), position=Position(i, 0), facing=Direction.N
        )
        for i in range(rovers)
    ]
    y = [0] * rovers
    for m in range(moves):
        i = m % rovers
        events.append(
            RoverMovedForward(
                grid_id=g,
                rover_id=RoverId(f"r{i:04d}"),
                from_position=Position(i, y[i]),
                to_position=Position(i, y[i] + 1),
                facing=Direction.N,
            )
        )
        y[i] += 1
    return envelopes(grid_id, events)
