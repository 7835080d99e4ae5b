"""Stored integration events as the hub carries them, and their GridUpdate bytes.

A stored event stays the bytes the store holds: the feed parses them once with protobuf (C
code) to read the grid id and sequence, and the domain envelope is decoded only when asked
(the grid cache folds it). The outgoing ``GridUpdate{sequence, event=GridChange{event, rover}}``
is assembled around the stored bytes: a serialized message is a concatenation of its fields,
so the stored IntegrationEvent becomes a length-delimited field as it is, without a re-encode.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from domain.values import GridId
from protos.rover.v1 import common_pb2, events_pb2
from services.broadcaster.application.ports import FeedEvent
from services.common.envelope import Envelope
from services.common.integration import IntegrationDecodeError, from_proto, to_proto

__all__ = ["StoredEvent", "encode_change"]

# The rover's resulting position and facing, by payload: (position field, facing field).
_ROVER_STATE = {
    "rover_created": ("position", "facing"),
    "rover_moved_forward": ("to_position", "facing"),
    "rover_moved_backward": ("to_position", "facing"),
    "rover_turned_left": ("position", "to_facing"),
    "rover_turned_right": ("position", "to_facing"),
    "rover_blocked": ("position", "facing"),
}

# Field keys: (field number << 3) | wire type (0 varint, 2 length-delimited).
_UPDATE_SEQUENCE = b"\x08"  # GridUpdate.sequence = 1
_UPDATE_EVENT = b"\x1a"  # GridUpdate.event = 3
_CHANGE_EVENT = b"\x0a"  # GridChange.event = 1
_CHANGE_ROVER = b"\x12"  # GridChange.rover = 2


class StoredEvent:
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
    def of(cls, envelope: Envelope) -> StoredEvent:
        """The stored form of an envelope (as the command side stores it)."""
        return cls(to_proto(envelope).SerializeToString())

    def envelope(self) -> Envelope:
        """The domain envelope, decoded on first use (IntegrationDecodeError if malformed)."""
        if self._envelope is None:
            self._envelope = from_proto(self.message)
        return self._envelope


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64: two's complement, ten bytes
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _rover(message: events_pb2.IntegrationEvent) -> bytes | None:
    kind = message.WhichOneof("payload")
    fields = _ROVER_STATE.get(kind) if kind is not None else None
    if fields is None:
        return None  # GridCreated concerns no rover
    payload = getattr(message, kind)  # type: ignore[arg-type]
    position, facing = fields
    return common_pb2.Rover(
        rover_id=payload.rover_id,
        position=getattr(payload, position),
        facing=getattr(payload, facing),
    ).SerializeToString()


def encode_change(event: FeedEvent) -> bytes:
    """The serialized GridUpdate carrying one event (the hub's encoder).

    Byte for byte what ``GridUpdate(sequence=..., event=GridChange(event=..., rover=...))``
    serializes to, assembled around the stored bytes.
    """
    stored = event if isinstance(event, StoredEvent) else StoredEvent.of(event.envelope())
    data = stored.data
    change = _CHANGE_EVENT + _varint(len(data)) + data
    rover = _rover(stored.message)
    if rover is not None:
        change += _CHANGE_ROVER + _varint(len(rover)) + rover
    head = _UPDATE_SEQUENCE + _varint(stored.sequence) if stored.sequence else b""
    return head + _UPDATE_EVENT + _varint(len(change)) + change
