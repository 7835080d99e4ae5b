"""The projection of a rover event straight from its ``rover.v1.IntegrationEvent`` message.

What it saves: building the domain event and its envelope (``from_proto``) for the frequent
events, rovers created, moved and turned. It yields exactly the ``HashUpdate`` that
``project(from_proto(message))`` does, reading the rover through ``ROVER_AFTER_FIELDS``, and it
checks the same fields, so a message it accepts the full decoder accepts too
(tests/unit/query/test_fast_projection.py proves both for every event type). Any other
message (grids created, rovers blocked, anything malformed) gets None: the caller decodes it
the full way, which reports what is wrong. ``bootstrap`` switches it on (``fast_projection``).
"""

from __future__ import annotations

import uuid

from domain.errors import DomainError
from domain.values import Direction, GridId, RoverId
from protos.rover.v1 import common_pb2, events_pb2
from services.common.integration import ROVER_AFTER_FIELDS, direction_to_proto
from services.query.application.ports import HashUpdate

__all__ = ["fast_update"]

_FACINGS = {direction_to_proto(d): d.value for d in Direction}
# A block is rare and has more to check (its cause, the blocking rover): the full path takes it.
_FAST_KINDS = {k: fields for k, fields in ROVER_AFTER_FIELDS.items() if k != "rover_blocked"}
_LANDS = "rover_created"  # the payload that lands a new rover (project: RoverCreated)


def _direction_fields(kind: str) -> tuple[str, ...]:
    """The payload's Direction fields: the full decoder checks each one, so this does too."""
    payload = events_pb2.IntegrationEvent.DESCRIPTOR.fields_by_name[kind].message_type
    direction = common_pb2.Direction.DESCRIPTOR.full_name
    return tuple(
        f.name for f in payload.fields if f.enum_type and f.enum_type.full_name == direction
    )


_CHECKED = {kind: _direction_fields(kind) for kind in _FAST_KINDS}
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
    if kind is None or (fields := _FAST_KINDS.get(kind)) is None:
        return None
    payload = getattr(message, kind)
    position_field, facing_field = fields
    try:
        for name in _CHECKED[kind]:
            _FACINGS[getattr(payload, name)]
        facing = _FACINGS[getattr(payload, facing_field)]
        uuid.UUID(message.event_id)
        grid_id = GridId(message.grid_id)
        rover_id = RoverId(payload.rover_id)
        updated_at_ms = _updated_at_ms(message)
    except (KeyError, ValueError, DomainError):
        return None
    position = getattr(payload, position_field)
    version = str(message.sequence)
    new = kind == _LANDS
    rover_fields = {
        "x": str(position.x),
        "y": str(position.y),
        "facing": facing,
        "version": version,
    }
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
