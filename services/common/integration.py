"""Mapping between application envelopes and the public ``rover.v1`` messages (adapters only)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC
from types import MappingProxyType
from typing import assert_never

from google.protobuf.timestamp_pb2 import Timestamp

from domain.errors import DomainError
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
from domain.state import RoverState
from domain.values import BlockedBy, Direction, GridId, Position, RoverId, Topology
from protos.rover.v1 import common_pb2, events_pb2
from services.common.envelope import Envelope

__all__ = [
    "INTEGRATION_CONTENT_TYPE",
    "ROVER_AFTER_FIELDS",
    "IntegrationDecodeError",
    "blocked_by_to_proto",
    "decode_integration_event",
    "direction_from_proto",
    "direction_to_proto",
    "from_proto",
    "integration_event_type",
    "position_to_proto",
    "rover_to_proto",
    "to_proto",
    "topology_from_proto",
    "topology_to_proto",
]

# Stored integration events carry the binary protobuf encoding of rover.v1.IntegrationEvent.
INTEGRATION_CONTENT_TYPE = "application/octet-stream"

_DIRECTIONS = {
    Direction.N: common_pb2.DIRECTION_NORTH,
    Direction.E: common_pb2.DIRECTION_EAST,
    Direction.S: common_pb2.DIRECTION_SOUTH,
    Direction.W: common_pb2.DIRECTION_WEST,
}
_DIRECTIONS_BACK = {v: k for k, v in _DIRECTIONS.items()}
_TOPOLOGIES = {
    Topology.BOUNDED: common_pb2.TOPOLOGY_BOUNDED,
    Topology.TOROIDAL: common_pb2.TOPOLOGY_TOROIDAL,
}
_TOPOLOGIES_BACK = {v: k for k, v in _TOPOLOGIES.items()}
_BLOCKED_BY = {
    BlockedBy.EDGE: common_pb2.BLOCKED_BY_EDGE,
    BlockedBy.OBSTACLE: common_pb2.BLOCKED_BY_OBSTACLE,
    BlockedBy.ROVER: common_pb2.BLOCKED_BY_ROVER,
}
_BLOCKED_BY_BACK = {v: k for k, v in _BLOCKED_BY.items()}

ROVER_AFTER_FIELDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "rover_created": ("position", "facing"),
        "rover_moved_forward": ("to_position", "facing"),
        "rover_moved_backward": ("to_position", "facing"),
        "rover_turned_left": ("position", "to_facing"),
        "rover_turned_right": ("position", "to_facing"),
        "rover_blocked": ("position", "facing"),
    }
)
"""Per rover payload of an IntegrationEvent, its fields that hold the rover's position and
facing after the event: ``domain.state.rover_after`` read straight off the wire, for the fast
paths that skip decoding. tests/unit/common/test_integration.py checks it against rover_after
for every event type."""


class IntegrationDecodeError(ValueError):
    """Stored bytes are not a valid ``rover.v1.IntegrationEvent``."""


def integration_event_type(event: GridEvent) -> str:
    """The stored event type of an integration event: ``rover.v1.<EventName>``."""
    return f"rover.v1.{type(event).__name__}"


def direction_to_proto(direction: Direction) -> common_pb2.Direction.ValueType:
    """Domain direction to the wire enum."""
    return _DIRECTIONS[direction]


def direction_from_proto(value: int) -> Direction:
    """Wire enum to domain direction; KeyError for UNSPECIFIED or unknown values."""
    return _DIRECTIONS_BACK[value]  # type: ignore[index]


def topology_to_proto(topology: Topology) -> common_pb2.Topology.ValueType:
    """Domain topology to the wire enum."""
    return _TOPOLOGIES[topology]


def topology_from_proto(value: int) -> Topology:
    """Wire enum to domain topology; KeyError for UNSPECIFIED or unknown values."""
    return _TOPOLOGIES_BACK[value]  # type: ignore[index]


def blocked_by_to_proto(blocked_by: BlockedBy) -> common_pb2.BlockedBy.ValueType:
    """Domain block cause to the wire enum."""
    return _BLOCKED_BY[blocked_by]


def position_to_proto(position: Position) -> common_pb2.Position:
    """Domain position to the wire message."""
    return common_pb2.Position(x=position.x, y=position.y)


def rover_to_proto(rover: RoverState) -> common_pb2.Rover:
    """Domain rover state to the wire message."""
    return common_pb2.Rover(
        rover_id=str(rover.rover_id),
        position=position_to_proto(rover.position),
        facing=_DIRECTIONS[rover.facing],
    )


def _position(message: common_pb2.Position) -> Position:
    return Position(message.x, message.y)


def to_proto(envelope: Envelope) -> events_pb2.IntegrationEvent:
    """The public integration event for an envelope."""
    occurred_at = Timestamp()
    occurred_at.FromDatetime(envelope.occurred_at.astimezone(UTC))
    message = events_pb2.IntegrationEvent(
        event_id=str(envelope.event_id),
        grid_id=str(envelope.grid_id),
        sequence=envelope.sequence,
        occurred_at=occurred_at,
    )
    event = envelope.event
    match event:
        case GridCreated():
            message.grid_created.CopyFrom(
                events_pb2.GridCreated(
                    width=event.width,
                    height=event.height,
                    topology=_TOPOLOGIES[event.topology],
                    obstacles=[position_to_proto(p) for p in sorted(event.obstacles)],
                )
            )
        case RoverCreated():
            message.rover_created.CopyFrom(
                events_pb2.RoverCreated(
                    rover_id=str(event.rover_id),
                    position=position_to_proto(event.position),
                    facing=_DIRECTIONS[event.facing],
                )
            )
        case RoverMovedForward() | RoverMovedBackward():
            moved = (
                message.rover_moved_forward
                if isinstance(event, RoverMovedForward)
                else message.rover_moved_backward
            )
            moved.rover_id = str(event.rover_id)
            moved.from_position.CopyFrom(position_to_proto(event.from_position))
            moved.to_position.CopyFrom(position_to_proto(event.to_position))
            moved.facing = _DIRECTIONS[event.facing]
        case RoverTurnedLeft() | RoverTurnedRight():
            turned = (
                message.rover_turned_left
                if isinstance(event, RoverTurnedLeft)
                else message.rover_turned_right
            )
            turned.rover_id = str(event.rover_id)
            turned.position.CopyFrom(position_to_proto(event.position))
            turned.from_facing = _DIRECTIONS[event.from_facing]
            turned.to_facing = _DIRECTIONS[event.to_facing]
        case RoverBlocked():
            message.rover_blocked.CopyFrom(
                events_pb2.RoverBlocked(
                    rover_id=str(event.rover_id),
                    position=position_to_proto(event.position),
                    facing=_DIRECTIONS[event.facing],
                    target=position_to_proto(event.target),
                    blocked_by=_BLOCKED_BY[event.blocked_by],
                    blocking_rover_id=str(event.blocking_rover_id or ""),
                    remaining_commands=event.unexecuted_commands,
                )
            )
        case _:
            assert_never(event)
    return message


def _payload(message: events_pb2.IntegrationEvent) -> GridEvent:
    grid_id = GridId(message.grid_id)
    kind = message.WhichOneof("payload")
    match kind:
        case "grid_created":
            created = message.grid_created
            return GridCreated(
                grid_id=grid_id,
                width=created.width,
                height=created.height,
                topology=_TOPOLOGIES_BACK[created.topology],
                obstacles=frozenset(_position(p) for p in created.obstacles),
            )
        case "rover_created":
            landed = message.rover_created
            return RoverCreated(
                grid_id=grid_id,
                rover_id=RoverId(landed.rover_id),
                position=_position(landed.position),
                facing=_DIRECTIONS_BACK[landed.facing],
            )
        case "rover_moved_forward" | "rover_moved_backward":
            moved = getattr(message, kind)
            move = RoverMovedForward if kind == "rover_moved_forward" else RoverMovedBackward
            return move(
                grid_id=grid_id,
                rover_id=RoverId(moved.rover_id),
                from_position=_position(moved.from_position),
                to_position=_position(moved.to_position),
                facing=_DIRECTIONS_BACK[moved.facing],
            )
        case "rover_turned_left" | "rover_turned_right":
            turned = getattr(message, kind)
            turn = RoverTurnedLeft if kind == "rover_turned_left" else RoverTurnedRight
            return turn(
                grid_id=grid_id,
                rover_id=RoverId(turned.rover_id),
                position=_position(turned.position),
                from_facing=_DIRECTIONS_BACK[turned.from_facing],
                to_facing=_DIRECTIONS_BACK[turned.to_facing],
            )
        case "rover_blocked":
            blocked = message.rover_blocked
            return RoverBlocked(
                grid_id=grid_id,
                rover_id=RoverId(blocked.rover_id),
                position=_position(blocked.position),
                facing=_DIRECTIONS_BACK[blocked.facing],
                target=_position(blocked.target),
                blocked_by=_BLOCKED_BY_BACK[blocked.blocked_by],
                blocking_rover_id=RoverId(blocked.blocking_rover_id)
                if blocked.blocking_rover_id
                else None,
                unexecuted_commands=blocked.remaining_commands,
            )
        case None:
            raise IntegrationDecodeError(f"integration event {message.event_id!r} has no payload")
        case _:
            assert_never(kind)


def from_proto(message: events_pb2.IntegrationEvent) -> Envelope:
    """The envelope of a public integration event; IntegrationDecodeError if malformed."""
    try:
        event = _payload(message)
        return Envelope(
            event_id=uuid.UUID(message.event_id),
            grid_id=GridId(message.grid_id),
            sequence=message.sequence,
            occurred_at=message.occurred_at.ToDatetime(tzinfo=UTC),
            event=event,
        )
    except IntegrationDecodeError:
        raise
    except (KeyError, ValueError, DomainError) as error:
        raise IntegrationDecodeError(
            f"integration event {message.event_id!r} is malformed: {error}"
        ) from error


def decode_integration_event(data: bytes) -> Envelope:
    """Stored bytes (binary protobuf) to an envelope."""
    try:
        message = events_pb2.IntegrationEvent.FromString(data)
    except Exception as error:  # protobuf raises DecodeError, a bare Exception subclass
        raise IntegrationDecodeError(f"not a rover.v1.IntegrationEvent: {error}") from error
    return from_proto(message)
