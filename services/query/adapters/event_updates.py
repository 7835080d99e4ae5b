"""The projection of a rover event straight from its ``rover.v1.IntegrationEvent`` message.

A fast path of ``projection.project`` for the frequent events (rovers created, moved and
turned), which skips building the domain event and its envelope: it yields exactly the
``HashUpdate`` that ``project(from_proto(message))`` does (tests/unit/query/test_event_updates.py
proves it for every kind), and validates the same fields, so a message it accepts the full
decoder accepts too. Any other message (grids created, rovers blocked, anything malformed)
gets None: the caller decodes it the full way, which reports what is wrong.
"""

from __future__ import annotations

import uuid

from domain.errors import DomainError
from domain.values import Direction, GridId, RoverId
from protos.rover.v1 import events_pb2
from services.common.integration import direction_to_proto
from services.query.application.ports import HashUpdate

__all__ = ["fast_update"]

_FACINGS = {direction_to_proto(d): d.value for d in Direction}
_MOVES = frozenset({"rover_moved_forward", "rover_moved_backward"})
_TURNS = frozenset({"rover_turned_left", "rover_turned_right"})
# Timestamp.ToDatetime's valid range (0001-01-01 .. 9999-12-31); outside it: the full path
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799


def _updated_at_ms(message: events_pb2.IntegrationEvent) -> str:
    # As project() computes it from Timestamp.ToDatetime(): microseconds, then a float.
    stamp = message.occurred_at
    if not (_MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos < 10**9):
        raise ValueError("timestamp out of range")
    micros = stamp.seconds * 1_000_000 + stamp.nanos // 1_000
    return str(int(micros / 10**6 * 1000))


def fast_update(message: events_pb2.IntegrationEvent) -> HashUpdate | None:
    """``project(from_proto(message))`` for a rover created, moved or turned; else None."""
    kind = message.WhichOneof("payload")
    try:
        if kind in _MOVES:
            moved = getattr(message, kind)
            rover_id, facing = moved.rover_id, _FACINGS[moved.facing]
            x, y, new = moved.to_position.x, moved.to_position.y, False
        elif kind in _TURNS:
            turned = getattr(message, kind)
            _FACINGS[turned.from_facing]  # validated by the full decoder too
            rover_id, facing = turned.rover_id, _FACINGS[turned.to_facing]
            x, y, new = turned.position.x, turned.position.y, False
        elif kind == "rover_created":
            created = message.rover_created
            rover_id, facing = created.rover_id, _FACINGS[created.facing]
            x, y, new = created.position.x, created.position.y, True
        else:
            return None
        uuid.UUID(message.event_id)
        grid_id = GridId(message.grid_id)
        RoverId(rover_id)
        updated_at_ms = _updated_at_ms(message)
    except (KeyError, ValueError, DomainError):
        return None
    version = str(message.sequence)
    rover_fields = {"x": str(x), "y": str(y), "facing": facing, "version": version}
    if new:
        rover_fields["rover_id"] = rover_id
    return HashUpdate(
        grid_id=grid_id,
        sequence=message.sequence,
        grid_fields={"version": version, "updated_at_ms": updated_at_ms},
        rover_id=rover_id,
        rover_fields=rover_fields,
        new_rover=new,
    )
