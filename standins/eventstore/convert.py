"""Conversions between the stored ``RecordedEvent`` and the Streams wire messages."""

from __future__ import annotations

import uuid

from esdbclient.protos.Grpc import shared_pb2, streams_pb2

from standins.eventstore.log import RecordedEvent

__all__ = [
    "caught_up",
    "checkpoint",
    "confirmation",
    "parse_uuid",
    "read_event",
    "stream_not_found",
]

_Wire = streams_pb2.ReadResp.ReadEvent.RecordedEvent
_JSON = "application/json"
_BINARY = "application/octet-stream"


def parse_uuid(message: shared_pb2.UUID) -> str:
    """A wire UUID (string or structured) as a canonical lowercase string."""
    if message.WhichOneof("value") == "structured":
        high = message.structured.most_significant_bits.to_bytes(8, "big", signed=True)
        low = message.structured.least_significant_bits.to_bytes(8, "big", signed=True)
        return str(uuid.UUID(bytes=high + low))
    text = message.string
    if len(text) == 36 and text.islower() and text[8] == text[13] == text[18] == text[23] == "-":
        return text  # already canonical (what esdbclient sends): skip the costly round trip
    return str(uuid.UUID(text))


def uuid_message(value: str, *, structured: bool) -> shared_pb2.UUID:
    """A UUID for a response, in the form the request asked for."""
    if not structured:
        return shared_pb2.UUID(string=value)
    raw = uuid.UUID(value).bytes
    return shared_pb2.UUID(
        structured=shared_pb2.UUID.Structured(
            most_significant_bits=int.from_bytes(raw[:8], "big", signed=True),
            least_significant_bits=int.from_bytes(raw[8:], "big", signed=True),
        )
    )


def wire_event(event: RecordedEvent, *, structured: bool, position: int | None = None) -> _Wire:
    """The wire ``RecordedEvent`` (``position`` overrides the $all position, for links)."""
    at = event.position if position is None else position
    return _Wire(
        id=uuid_message(event.event_id, structured=structured),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=event.stream.encode()),
        stream_revision=event.revision,
        prepare_position=at,
        commit_position=at,
        metadata={
            "type": event.type,
            "content-type": _JSON if event.is_json else _BINARY,
            "created": str(event.created),
        },
        custom_metadata=event.metadata,
        data=event.data,
    )


def read_event(
    event: RecordedEvent,
    *,
    structured: bool,
    target: RecordedEvent | None = None,
    resolved: bool = False,
) -> streams_pb2.ReadResp:
    """A ``ReadResp.event``; with ``resolved`` the event is a link and ``target`` its target."""
    if not resolved:
        read = streams_pb2.ReadResp.ReadEvent(
            event=wire_event(event, structured=structured), commit_position=event.position
        )
    elif target is None:  # a dangling link is sent alone (ESDB does the same)
        read = streams_pb2.ReadResp.ReadEvent(
            link=wire_event(event, structured=structured), commit_position=event.position
        )
    else:
        read = streams_pb2.ReadResp.ReadEvent(
            event=wire_event(target, structured=structured, position=event.position),
            link=wire_event(event, structured=structured),
            commit_position=event.position,
        )
    return streams_pb2.ReadResp(event=read)


def confirmation(subscription_id: str) -> streams_pb2.ReadResp:
    """The first message of a catch-up subscription."""
    return streams_pb2.ReadResp(
        confirmation=streams_pb2.ReadResp.SubscriptionConfirmation(subscription_id=subscription_id)
    )


def checkpoint(position: int) -> streams_pb2.ReadResp:
    """A filtered $all subscription checkpoint at ``position``."""
    return streams_pb2.ReadResp(
        checkpoint=streams_pb2.ReadResp.Checkpoint(
            commit_position=position, prepare_position=position
        )
    )


def caught_up() -> streams_pb2.ReadResp:
    """The end of a subscription's historical phase."""
    return streams_pb2.ReadResp(caught_up=streams_pb2.ReadResp.CaughtUp())


def stream_not_found(stream: str) -> streams_pb2.ReadResp:
    """The only message of a read of a missing (or soft-deleted) stream."""
    return streams_pb2.ReadResp(
        stream_not_found=streams_pb2.ReadResp.StreamNotFound(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode())
        )
    )
