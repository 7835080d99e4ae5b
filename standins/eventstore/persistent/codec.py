"""Translation between the persistent-subscription protobufs and our group values.

Requests become ``GroupKey``/``GroupSettings``/``StartPoint``/``EventFilter`` here. Groups and
deliveries become replies in ``replies``, and failures become EventStoreDB's exact status, details
and trailing metadata in ``statuses``. Both are re-exported, so callers use ``codec`` alone.
"""

from __future__ import annotations

import re

from esdbclient.protos.Grpc import persistent_pb2, shared_pb2

from standins.eventstore.persistent.errors import GroupFailedError
from standins.eventstore.persistent.replies import event_id, read_event, subscription_info
from standins.eventstore.persistent.settings import (
    ALL,
    EventFilter,
    FilterTarget,
    GroupKey,
    GroupSettings,
    StartKind,
    StartPoint,
)
from standins.eventstore.persistent.statuses import error_status

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
