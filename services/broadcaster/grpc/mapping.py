"""Application updates to ``rover.v1.GridUpdate`` (serialized: the hub encodes an event once)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from domain.events import (
    GridCreated,
    GridEvent,
    RoverBlocked,
    RoverCreated,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
)
from domain.snapshot import GridSnapshot
from domain.values import Direction, Position, RoverId
from protos.rover.v1 import common_pb2, live_pb2
from services.common.envelope import Envelope
from services.common.integration import (
    direction_to_proto,
    position_to_proto,
    to_proto,
    topology_to_proto,
)

__all__ = [
    "encode_change",
    "encode_heartbeat",
    "encode_resume",
    "encode_snapshot",
    "rover_after",
]


def rover_after(event: GridEvent) -> common_pb2.Rover | None:
    """The state of the rover an event concerns, after it (None for GridCreated).

    Every rover event carries its resulting position and facing, so no fold is needed.
    """
    match event:
        case GridCreated():
            return None
        case RoverCreated():
            return _rover(event.rover_id, event.position, event.facing)
        case RoverMovedForward() | RoverMovedBackward():
            return _rover(event.rover_id, event.to_position, event.facing)
        case RoverTurnedLeft() | RoverTurnedRight():
            return _rover(event.rover_id, event.position, event.to_facing)
        case RoverBlocked():
            return _rover(event.rover_id, event.position, event.facing)


def _rover(rover_id: RoverId, position: Position, facing: Direction) -> common_pb2.Rover:
    return common_pb2.Rover(
        rover_id=str(rover_id),
        position=position_to_proto(position),
        facing=direction_to_proto(facing),
    )


def encode_change(envelope: Envelope) -> bytes:
    """The serialized GridUpdate carrying one event (the hub's encoder)."""
    change = live_pb2.GridChange(event=to_proto(envelope))
    rover = rover_after(envelope.event)
    if rover is not None:
        change.rover.CopyFrom(rover)
    return live_pb2.GridUpdate(sequence=envelope.sequence, event=change).SerializeToString()


def encode_snapshot(snapshot: GridSnapshot) -> bytes:
    """The serialized GridUpdate carrying a grid's full state."""
    state = snapshot.state
    details = common_pb2.GridDetails(
        grid_id=str(state.grid_id),
        width=state.width,
        height=state.height,
        topology=topology_to_proto(state.topology),
        obstacles=[position_to_proto(p) for p in sorted(state.obstacles)],
        rovers=[_rover(r.rover_id, r.position, r.facing) for r in state.rovers.values()],
        version=snapshot.version,
    )
    return live_pb2.GridUpdate(sequence=snapshot.version, snapshot=details).SerializeToString()


def encode_heartbeat(sequence: int, now: datetime | None = None) -> bytes:
    """The serialized GridUpdate of a heartbeat."""
    sent_at = Timestamp()
    sent_at.FromDatetime(now or datetime.now(UTC))
    return live_pb2.GridUpdate(
        sequence=sequence, heartbeat=live_pb2.Heartbeat(sent_at=sent_at)
    ).SerializeToString()


def encode_resume(sequence: int, reason: str) -> bytes:
    """The serialized GridUpdate telling a dropped watcher where to resume."""
    return live_pb2.GridUpdate(
        sequence=sequence, resume=live_pb2.Resume(from_version=sequence, reason=reason)
    ).SerializeToString()
