"""Translation between the persistent-subscription protobufs and our group values.

Requests become ``GroupKey``/``GroupSettings``/``StartPoint``/``EventFilter``; groups become
``SubscriptionInfo``; deliveries become ``ReadResp`` events; failures become the exact status,
details and trailing metadata EventStoreDB sends.
"""

from __future__ import annotations

import re
import uuid

import grpc
from esdbclient.protos.Grpc import persistent_pb2, shared_pb2

from services.eventstore.log import RecordedEvent
from services.eventstore.persistent.errors import (
    ConsumerRequestError,
    GroupDroppedError,
    GroupError,
    GroupExistsError,
    GroupFailedError,
    GroupNotFoundError,
    MaxSubscribersError,
)
from services.eventstore.persistent.messages import Delivery
from services.eventstore.persistent.runtime import GroupEntry
from services.eventstore.persistent.settings import (
    ALL,
    EventFilter,
    FilterTarget,
    GroupKey,
    GroupSettings,
    StartKind,
    StartPoint,
)

__all__ = [
    "error_status",
    "event_id",
    "parse_create",
    "parse_update",
    "read_event",
    "source_of",
    "subscription_info",
]

_U64_MAX = 2**64 - 1
_STRATEGY_NAMES = {0: "DispatchToSingle", 1: "RoundRobin", 2: "Pinned"}

CreateSettings = persistent_pb2.CreateReq.Settings
UpdateSettings = persistent_pb2.UpdateReq.Settings


_SourceOptions = (
    persistent_pb2.ReadReq.Options
    | persistent_pb2.DeleteReq.Options
    | persistent_pb2.GetInfoReq.Options
    | persistent_pb2.ReplayParkedReq.Options
)


def source_of(options: _SourceOptions) -> str:
    """The event source of GetInfo/Delete/ReplayParked/Read options."""
    if options.WhichOneof("stream_option") == "all":
        return ALL
    return options.stream_identifier.stream_name.decode("utf-8")


# ---------------------------------------------------------------------------- Create / Update
def parse_create(
    request: persistent_pb2.CreateReq,
) -> tuple[GroupKey, GroupSettings, StartPoint, EventFilter | None]:
    """Raises GroupFailedError for a filter the server cannot run."""
    options = request.options
    settings = options.settings
    strategy = settings.consumer_strategy or _STRATEGY_NAMES.get(
        settings.named_consumer_strategy, str(settings.named_consumer_strategy)
    )
    which = options.WhichOneof("stream_option")
    event_filter: EventFilter | None = None
    if which == "all":
        key = GroupKey(ALL, options.group_name)
        start = _all_start(options.all)
        if options.all.WhichOneof("filter_option") == "filter":
            event_filter = _filter(key, options.all.filter)
    elif which == "stream":
        key = GroupKey(_name(options.stream.stream_identifier), options.group_name)
        start = _stream_start(options.stream)
    else:  # the legacy shape: stream_identifier beside the options, revision in the settings
        key = GroupKey(_name(options.stream_identifier), options.group_name)
        start = _legacy_start(settings.revision)
    return key, _settings(settings, strategy), start, event_filter


def parse_update(
    request: persistent_pb2.UpdateReq,
) -> tuple[GroupKey, GroupSettings, StartPoint]:
    options = request.options
    settings = options.settings
    strategy = _STRATEGY_NAMES.get(
        settings.named_consumer_strategy, str(settings.named_consumer_strategy)
    )
    which = options.WhichOneof("stream_option")
    if which == "all":
        key = GroupKey(ALL, options.group_name)
        start = _all_start(options.all)
    elif which == "stream":
        key = GroupKey(_name(options.stream.stream_identifier), options.group_name)
        start = _stream_start(options.stream)
    else:
        key = GroupKey(_name(options.stream_identifier), options.group_name)
        start = _legacy_start(settings.revision)
    return key, _settings(settings, strategy), start


def _name(identifier: shared_pb2.StreamIdentifier) -> str:
    return identifier.stream_name.decode("utf-8")


def _settings(settings: CreateSettings | UpdateSettings, strategy: str) -> GroupSettings:
    defaults = GroupSettings()
    if settings.WhichOneof("message_timeout") == "message_timeout_ticks":
        timeout_ms = settings.message_timeout_ticks // 10_000
    elif settings.WhichOneof("message_timeout") == "message_timeout_ms":
        timeout_ms = settings.message_timeout_ms
    else:
        timeout_ms = defaults.message_timeout_ms
    if settings.WhichOneof("checkpoint_after") == "checkpoint_after_ticks":
        after_ms = settings.checkpoint_after_ticks // 10_000
    elif settings.WhichOneof("checkpoint_after") == "checkpoint_after_ms":
        after_ms = settings.checkpoint_after_ms
    else:
        after_ms = defaults.checkpoint_after_ms
    return GroupSettings(
        resolve_links=settings.resolve_links,
        extra_statistics=settings.extra_statistics,
        max_retry_count=settings.max_retry_count,
        min_checkpoint_count=settings.min_checkpoint_count,
        max_checkpoint_count=settings.max_checkpoint_count,
        max_subscriber_count=settings.max_subscriber_count,
        live_buffer_size=settings.live_buffer_size,
        read_batch_size=settings.read_batch_size,
        history_buffer_size=settings.history_buffer_size,
        message_timeout_ms=timeout_ms,
        checkpoint_after_ms=after_ms,
        consumer_strategy=strategy,
    )


def _all_start(
    options: persistent_pb2.CreateReq.AllOptions | persistent_pb2.UpdateReq.AllOptions,
) -> StartPoint:
    which = options.WhichOneof("all_option")
    if which == "end":
        return StartPoint(StartKind.END)
    if which == "position" and options.position.commit_position > 0:
        return StartPoint(StartKind.AT, options.position.commit_position)
    return StartPoint(StartKind.START)


def _stream_start(
    options: persistent_pb2.CreateReq.StreamOptions | persistent_pb2.UpdateReq.StreamOptions,
) -> StartPoint:
    which = options.WhichOneof("revision_option")
    if which == "end":
        return StartPoint(StartKind.END)
    if which == "revision" and options.revision > 0:
        return StartPoint(StartKind.AT, options.revision)
    return StartPoint(StartKind.START)


def _legacy_start(revision: int) -> StartPoint:
    if revision == _U64_MAX:
        return StartPoint(StartKind.END)
    return StartPoint(StartKind.AT, revision) if revision > 0 else StartPoint(StartKind.START)


def _filter(
    key: GroupKey, options: persistent_pb2.CreateReq.AllOptions.FilterOptions
) -> EventFilter:
    if options.WhichOneof("window") == "max" and options.max == 0:
        raise GroupFailedError(key, "Filter window size must be positive.")
    if options.checkpointIntervalMultiplier == 0:
        raise GroupFailedError(key, "Checkpoint interval multiplier must be positive.")
    if options.WhichOneof("filter") == "stream_identifier":
        target, expression = FilterTarget.STREAM, options.stream_identifier
    else:
        target, expression = FilterTarget.EVENT_TYPE, options.event_type
    try:
        return EventFilter(target, expression.regex, tuple(expression.prefix))
    except re.error as error:
        raise GroupFailedError(key, f"Invalid filter regex: {error}") from None


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


# ---------------------------------------------------------------------------- errors
def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


def error_status(error: GroupError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    """Status code, details and trailing metadata, as EventStoreDB reports ``error``."""
    stream, group = error.key.source, error.key.group
    where = f"Subscription group {group} on stream {stream}"
    names = (("stream-name", _ascii(stream)), ("group-name", _ascii(group)))
    trailers: tuple[tuple[str, str], ...]
    if isinstance(error, GroupNotFoundError):
        code, details = grpc.StatusCode.NOT_FOUND, f"{where} does not exist."
        trailers = (("exception", "persistent-subscription-does-not-exist"), *names)
    elif isinstance(error, GroupExistsError):
        code, details = grpc.StatusCode.ALREADY_EXISTS, f"{where} exists."
        trailers = (("exception", "persistent-subscription-exists"), *names)
    elif isinstance(error, GroupFailedError):
        code, details = grpc.StatusCode.INTERNAL, f"{where} failed: '{error.reason}'"
        trailers = (
            ("exception", "persistent-subscription-failed"),
            *names,
            ("reason", _ascii(error.reason)),
        )
    elif isinstance(error, MaxSubscribersError):
        code = grpc.StatusCode.FAILED_PRECONDITION
        details = (
            f"Maximum subscriptions reached for subscription group {group} on stream {stream}."
        )
        trailers = (("exception", "maximum-subscribers-reached"), *names)
    elif isinstance(error, ConsumerRequestError):
        code, details, trailers = grpc.StatusCode.INVALID_ARGUMENT, error.reason, names
    elif isinstance(error, GroupDroppedError):
        code, details = grpc.StatusCode.CANCELLED, f"{where} was dropped."
        trailers = (("exception", "persistent-subscription-dropped"), *names)
    else:
        code, details, trailers = grpc.StatusCode.UNKNOWN, str(error), ()
    return code, details, trailers
