"""The reference GridUpdate of an event, built from the domain envelope with protobuf alone.

Once the broadcaster's own mapping (no longer used by the service): both encoders in
services/broadcaster/adapters are tested equal to it.
"""

from __future__ import annotations

from domain.events import GridCreated
from domain.state import rover_after
from protos.rover.v1 import live_pb2
from services.common.envelope import Envelope
from services.common.integration import rover_to_proto, to_proto

__all__ = ["grid_update"]


def grid_update(envelope: Envelope) -> bytes:
    """``GridUpdate{sequence, event=GridChange{event, rover}}`` serialized by protobuf."""
    change = live_pb2.GridChange(event=to_proto(envelope))
    if not isinstance(envelope.event, GridCreated):
        change.rover.CopyFrom(rover_to_proto(rover_after(envelope.event)))
    return live_pb2.GridUpdate(sequence=envelope.sequence, event=change).SerializeToString()
