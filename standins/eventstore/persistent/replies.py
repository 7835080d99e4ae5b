"""Persistent-subscription replies: group infos, delivered events and the ids acked back."""

from __future__ import annotations

import uuid

from esdbclient.protos.Grpc import persistent_pb2, shared_pb2

from standins.eventstore.log import RecordedEvent
from standins.eventstore.persistent.messages import Delivery
from standins.eventstore.persistent.runtime import GroupEntry

__all__ = ["event_id", "read_event", "subscription_info"]


# ---------------------------------------------------------------------------- GetInfo / List
def _position(is_all: bool, key: int | None) -> str:
    if key is None:
        return ""
    return f"C:{key}/P:{key}" if is_all else str(key)


def subscription_info(entry: GroupEntry) -> persistent_pb2.SubscriptionInfo:
    record, group = entry.record, entry.group
    settings, is_all = record.settings, record.key.is_all
    connections = []
    for consumer in group.consumers:
        session = entry.sessions.get(consumer.consumer_id)
        connection = persistent_pb2.SubscriptionInfo.ConnectionInfo(
            username="",
            average_items_per_second=0,
            total_items=consumer.total_items,
            count_since_last_measurement=0,
            available_slots=consumer.free_slots,
            in_flight_messages=len(consumer.in_flight),
            connection_name=consumer.connection_name,
        )
        setattr(connection, "from", session.peer if session is not None else "")
        connections.append(connection)
    return persistent_pb2.SubscriptionInfo(
        event_source=record.key.source,
        group_name=record.key.group,
        status="Live",
        connections=connections,
        average_per_second=0,
        total_items=group.total_items,
        count_since_last_measurement=0,
        last_checkpointed_event_position=_position(is_all, group.last_checkpoint),
        last_known_event_position=_position(is_all, group.cursor),
        resolve_link_tos=settings.resolve_links,
        start_from=record.start.describe(is_all),
        message_timeout_milliseconds=settings.message_timeout_ms,
        extra_statistics=settings.extra_statistics,
        max_retry_count=settings.max_retry_count,
        live_buffer_size=settings.live_buffer_size,
        buffer_size=settings.history_buffer_size,
        read_batch_size=settings.read_batch_size,
        check_point_after_milliseconds=settings.checkpoint_after_ms,
        min_check_point_count=settings.min_checkpoint_count,
        max_check_point_count=settings.max_checkpoint_count,
        read_buffer_count=group.buffered_count,
        live_buffer_count=0,
        retry_buffer_count=group.retry_count,
        total_in_flight_messages=group.in_flight_count,
        outstanding_messages_count=group.in_flight_count,
        named_consumer_strategy=settings.consumer_strategy,
        max_subscriber_count=settings.max_subscriber_count,
        parked_message_count=group.parked_count,
    )


# ---------------------------------------------------------------------------- Read
def event_id(value: shared_pb2.UUID) -> str:
    """Canonical lowercase string of an acked id, sent as string or structured.

    ValueError for a string that is not a UUID.
    """
    if value.WhichOneof("value") == "structured":
        raw = value.structured.most_significant_bits.to_bytes(
            8, "big", signed=True
        ) + value.structured.least_significant_bits.to_bytes(8, "big", signed=True)
        return str(uuid.UUID(bytes=raw))
    return str(uuid.UUID(value.string))  # ValueError when it is not a UUID


def read_event(delivery: Delivery, structured: bool) -> persistent_pb2.ReadResp:
    message = delivery.message
    position = message.original.position
    read = persistent_pb2.ReadResp.ReadEvent(
        commit_position=position, retry_count=delivery.retry_count
    )
    _fill(read.event, message.event, position, structured)
    if message.link is not None:
        _fill(read.link, message.link, position, structured)
    return persistent_pb2.ReadResp(event=read)


def _fill(
    target: persistent_pb2.ReadResp.ReadEvent.RecordedEvent,
    event: RecordedEvent,
    position: int,
    structured: bool,
) -> None:
    if structured:
        raw = uuid.UUID(event.event_id).bytes
        target.id.structured.most_significant_bits = int.from_bytes(raw[:8], "big", signed=True)
        target.id.structured.least_significant_bits = int.from_bytes(raw[8:], "big", signed=True)
    else:
        target.id.string = event.event_id
    target.stream_identifier.stream_name = event.stream.encode("utf-8")
    target.stream_revision = event.revision
    target.commit_position = position
    target.prepare_position = position
    target.metadata["type"] = event.type
    target.metadata["content-type"] = (
        "application/json" if event.is_json else "application/octet-stream"
    )
    target.metadata["created"] = str(event.created)
    target.custom_metadata = event.metadata
    target.data = event.data
