"""Stored integration events as the hub carries them, and their GridUpdate built with protobuf.

A stored event stays the bytes the store holds: the feed parses them once with protobuf (C
code) to read the grid id and sequence, and the domain envelope is decoded only when asked
(the grid cache folds it). ``encode_change`` is the plain encoder of the outgoing
``GridUpdate{sequence, event=GridChange{event, rover}}``; adapters/fast_wire.py assembles the
same bytes around the stored ones, and bootstrap picks it by default.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from domain.events import GridCreated
from domain.state import rover_after
from domain.values import GridId
from protos.rover.v1 import events_pb2, live_pb2
from services.broadcaster.application.ports import FeedEvent
from services.common.envelope import Envelope
from services.common.integration import (
    IntegrationDecodeError,
    from_proto,
    rover_to_proto,
    to_proto,
)

__all__ = ["StoredIntegrationEvent", "encode_change"]


class StoredIntegrationEvent:
    """One stored ``rover.v1.IntegrationEvent``: its bytes and the few fields the hub reads."""

    __slots__ = ("_envelope", "data", "grid_id", "message", "sequence")

    def __init__(self, data: bytes) -> None:
        """Parse ``data``; IntegrationDecodeError unless an IntegrationEvent with a payload."""
        try:
            message = events_pb2.IntegrationEvent.FromString(data)
        except DecodeError as error:
            raise IntegrationDecodeError(f"not a rover.v1.IntegrationEvent: {error}") from error
        if message.WhichOneof("payload") is None:
            raise IntegrationDecodeError(f"integration event {message.event_id!r} has no payload")
        if not message.grid_id or message.sequence < 1:
            raise IntegrationDecodeError(
                f"integration event {message.event_id!r} has no grid id or sequence"
            )
        self.data = data
        self.message = message
        self.grid_id = GridId(message.grid_id)
        self.sequence: int = message.sequence
        self._envelope: Envelope | None = None

    @classmethod
    def of(cls, envelope: Envelope) -> StoredIntegrationEvent:
        """The stored form of an envelope (as the command side stores it)."""
        return cls(to_proto(envelope).SerializeToString())

    def envelope(self) -> Envelope:
        """The domain envelope, decoded on first use (IntegrationDecodeError if malformed)."""
        if self._envelope is None:
            self._envelope = from_proto(self.message)
        return self._envelope


def encode_change(event: FeedEvent) -> bytes:
    """The serialized GridUpdate carrying one event and the rover after it (the hub's encoder)."""
    envelope = event.envelope()
    message = event.message if isinstance(event, StoredIntegrationEvent) else to_proto(envelope)
    change = live_pb2.GridChange(event=message)
    if not isinstance(envelope.event, GridCreated):  # a grid's creation concerns no rover
        change.rover.CopyFrom(rover_to_proto(rover_after(envelope.event)))
    return live_pb2.GridUpdate(sequence=event.sequence, event=change).SerializeToString()
