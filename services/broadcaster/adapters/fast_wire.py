"""The GridUpdate of a stored event assembled around its stored bytes, without a re-encode.

What it saves: decoding the domain envelope and serializing the IntegrationEvent again. A
serialized message is a concatenation of its fields, so the stored IntegrationEvent becomes a
length-delimited field as it is, and the rover after the event is read off the message through
``ROVER_AFTER_FIELDS``. Byte for byte what adapters/wire.encode_change serializes
(tests/unit/broadcaster/test_wire.py checks every event type); bootstrap uses it by default.
"""

from __future__ import annotations

from protos.rover.v1 import common_pb2, events_pb2
from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.broadcaster.application.ports import FeedEvent
from services.common.integration import ROVER_AFTER_FIELDS

__all__ = ["encode_change"]

# Field keys: (field number << 3) | wire type (0 varint, 2 length-delimited).
_UPDATE_SEQUENCE = b"\x08"  # GridUpdate.sequence = 1
_UPDATE_EVENT = b"\x1a"  # GridUpdate.event = 3
_CHANGE_EVENT = b"\x0a"  # GridChange.event = 1
_CHANGE_ROVER = b"\x12"  # GridChange.rover = 2


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
    fields = ROVER_AFTER_FIELDS.get(kind) if kind is not None else None
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
    stored = (
        event
        if isinstance(event, StoredIntegrationEvent)
        else StoredIntegrationEvent.of(event.envelope())
    )
    data = stored.data
    change = _CHANGE_EVENT + _varint(len(data)) + data
    rover = _rover(stored.message)
    if rover is not None:
        change += _CHANGE_ROVER + _varint(len(rover)) + rover
    head = _UPDATE_SEQUENCE + _varint(stored.sequence) if stored.sequence else b""
    return head + _UPDATE_EVENT + _varint(len(change)) + change
