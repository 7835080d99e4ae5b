"""The event codec: every event registered under a versioned name, round trips, upcasting."""

from __future__ import annotations

import json
import typing

import pytest

from domain import (
    BlockedBy,
    Direction,
    Grid,
    GridCreated,
    GridEvent,
    GridId,
    Position,
    RoverBlocked,
    RoverCreated,
    RoverId,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
    Topology,
)
from domain.errors import SnapshotCorruptError, SnapshotSchemaUnsupportedError
from services.command.adapters import codec

G, R = GridId("g-1"), RoverId("r-1")
P, Q = Position(1, 2), Position(1, 3)

SAMPLES: dict[type[GridEvent], GridEvent] = {
    GridCreated: GridCreated(
        grid_id=G,
        width=6,
        height=4,
        topology=Topology.TOROIDAL,
        obstacles=frozenset({Position(3, 3), Position(0, 1)}),
    ),
    RoverCreated: RoverCreated(grid_id=G, rover_id=R, position=P, facing=Direction.N),
    RoverMovedForward: RoverMovedForward(
        grid_id=G, rover_id=R, from_position=P, to_position=Q, facing=Direction.N
    ),
    RoverMovedBackward: RoverMovedBackward(
        grid_id=G, rover_id=R, from_position=Q, to_position=P, facing=Direction.N
    ),
    RoverTurnedLeft: RoverTurnedLeft(
        grid_id=G, rover_id=R, position=P, from_facing=Direction.N, to_facing=Direction.W
    ),
    RoverTurnedRight: RoverTurnedRight(
        grid_id=G, rover_id=R, position=P, from_facing=Direction.W, to_facing=Direction.N
    ),
    RoverBlocked: RoverBlocked(
        grid_id=G,
        rover_id=R,
        position=P,
        facing=Direction.N,
        target=Q,
        blocked_by=BlockedBy.ROVER,
        blocking_rover_id=RoverId("r-2"),
        unexecuted_commands="FRF",
    ),
}


def test_every_grid_event_is_registered_and_has_a_sample() -> None:
    event_types = set(typing.get_args(GridEvent))
    assert len(event_types) == 7
    assert set(codec.current_versions()) == event_types
    assert set(SAMPLES) == event_types


@pytest.mark.parametrize("event_type", typing.get_args(GridEvent), ids=lambda t: t.__name__)
def test_every_event_round_trips(event_type: type[GridEvent]) -> None:
    event = SAMPLES[event_type]
    encoded = codec.encode(event)
    assert encoded.type == codec.wire_name(event) == codec.wire_name(event_type)
    assert encoded.type.startswith(f"{event_type.__name__}.v")
    decoded = codec.decode(encoded.type, encoded.data)
    assert decoded == event
    assert type(decoded) is event_type
    assert isinstance(json.loads(encoded.data), dict)


def test_wire_names_are_explicit_and_versioned() -> None:
    assert sorted(codec.current_versions().values()) == [
        "GridCreated.v2",
        "RoverBlocked.v1",
        "RoverCreated.v1",
        "RoverMovedBackward.v1",
        "RoverMovedForward.v1",
        "RoverTurnedLeft.v1",
        "RoverTurnedRight.v1",
    ]


def test_the_wire_shape_is_pinned() -> None:
    # Stored events outlive this code: a change here needs a new version and an upcaster.
    assert codec.encode(SAMPLES[RoverMovedForward]).data == (
        b'{"grid_id":"g-1","rover_id":"r-1","from_position":{"x":1,"y":2},'
        b'"to_position":{"x":1,"y":3},"facing":"N"}'
    )
    assert codec.to_payload(SAMPLES[GridCreated]) == {
        "grid_id": "g-1",
        "width": 6,
        "height": 4,
        "topology": "TOROIDAL",
        "obstacles": [{"x": 0, "y": 1}, {"x": 3, "y": 3}],
    }
    assert codec.to_payload(SAMPLES[RoverBlocked])["blocked_by"] == "ROVER"


def test_an_edge_block_has_no_blocking_rover_on_the_wire() -> None:
    grid = Grid.create("g", 2, 2)
    grid.create_rover("r", Position(0, 0), Direction.S)
    blocked = grid.move_forward(RoverId("r")).blocked
    assert blocked is not None
    encoded = codec.encode(blocked)
    assert json.loads(encoded.data)["blocking_rover_id"] is None
    assert codec.decode(encoded.type, encoded.data) == blocked


def test_grid_created_v1_is_upcast_to_the_current_class() -> None:
    # v1 was written before toroidal grids existed: no topology, obstacles as [x, y] pairs.
    stored_v1 = b'{"grid_id":"old-grid","width":5,"height":5,"obstacles":[[1,1],[4,0]]}'
    event = codec.decode("GridCreated.v1", stored_v1)
    assert event == GridCreated(
        grid_id=GridId("old-grid"),
        width=5,
        height=5,
        topology=Topology.BOUNDED,
        obstacles=frozenset({Position(1, 1), Position(4, 0)}),
    )
    assert codec.encode(event).type == "GridCreated.v2"
    grid = Grid.from_events([event])
    assert grid.state.topology is Topology.BOUNDED


def test_upcast_steps_one_version_at_a_time() -> None:
    assert codec.upcast("RoverCreated", 1, {"a": 1}) == {"a": 1}
    upcast = codec.upcast("GridCreated", 1, {"grid_id": "g", "width": 1, "height": 1})
    assert upcast == {
        "grid_id": "g",
        "width": 1,
        "height": 1,
        "topology": "BOUNDED",
        "obstacles": [],
    }


@pytest.mark.parametrize(
    "type_name",
    ["Unknown.v1", "GridCreated", "GridCreated.v3", "GridCreated.v0", "gridcreated.v2", ""],
)
def test_unknown_wire_names_are_refused(type_name: str) -> None:
    with pytest.raises(codec.UnknownEventTypeError):
        codec.decode(type_name, b"{}")


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"grid_id":"g-1","rover_id":"r-1","position":{"x":1,"y":2}}',
        b'{"grid_id":"g-1","rover_id":"r 1","position":{"x":1,"y":2},"facing":"N"}',
        b'{"grid_id":"g-1","rover_id":"r-1","position":{"x":true,"y":2},"facing":"N"}',
        b'{"grid_id":"g-1","rover_id":"r-1","position":{"x":1},"facing":"N"}',
        b'{"grid_id":"g-1","rover_id":"r-1","position":{"x":1,"y":2},"facing":"UP"}',
        b'{"grid_id":7,"rover_id":"r-1","position":{"x":1,"y":2},"facing":"N"}',
    ],
)
def test_malformed_data_is_refused(data: bytes) -> None:
    with pytest.raises(codec.MalformedEventError):
        codec.decode("RoverCreated.v1", data)


def test_malformed_v1_data_is_refused_too() -> None:
    with pytest.raises(codec.MalformedEventError):
        codec.decode("GridCreated.v1", b'{"grid_id":"g","width":5,"height":5,"obstacles":[1]}')


def test_unknown_keys_are_ignored_for_forward_compatibility() -> None:
    data = codec.to_payload(SAMPLES[RoverCreated]) | {"added_later": 1}
    assert codec.from_payload("RoverCreated.v1", data) == SAMPLES[RoverCreated]


def test_an_unregistered_class_has_no_wire_name() -> None:
    with pytest.raises(codec.UnknownEventTypeError):
        codec.wire_name(int)  # type: ignore[arg-type]
    with pytest.raises(codec.UnknownEventTypeError):
        codec.encode(object())  # type: ignore[arg-type]


def test_snapshots_round_trip_and_unknown_schemas_are_refused() -> None:
    grid = Grid.create("g", 3, 3, obstacles=[Position(1, 1)])
    grid.create_rover("r", Position(0, 0), Direction.E)
    snapshot = grid.snapshot()
    data = codec.encode_snapshot(snapshot)
    assert codec.decode_snapshot(data) == snapshot
    future = json.loads(data) | {"schema": 99}
    with pytest.raises(SnapshotSchemaUnsupportedError):
        codec.decode_snapshot(json.dumps(future).encode())
    with pytest.raises(SnapshotCorruptError):
        codec.decode_snapshot(b"{")
