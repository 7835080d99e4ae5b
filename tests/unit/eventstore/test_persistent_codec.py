"""Protobuf translation of persistent subscriptions: requests, errors, events, ids."""

from __future__ import annotations

import uuid

import grpc
import pytest
from esdbclient.protos.Grpc import persistent_pb2, shared_pb2

from standins.eventstore.persistent import codec
from standins.eventstore.persistent.errors import (
    GroupDroppedError,
    GroupFailedError,
    MaxSubscribersError,
)
from standins.eventstore.persistent.messages import Delivery, Message
from standins.eventstore.persistent.settings import (
    ALL,
    EventFilter,
    FilterTarget,
    GroupKey,
    GroupSettings,
    StartKind,
    StartPoint,
    invalid_reason,
)
from tests.unit.eventstore.fake_log import FakeEventLog

Req = persistent_pb2.CreateReq


def stream_id(name: str) -> shared_pb2.StreamIdentifier:
    return shared_pb2.StreamIdentifier(stream_name=name.encode())


def test_create_on_all_with_a_filter_and_a_position() -> None:
    expression = Req.AllOptions.FilterOptions.Expression(prefix=["order-"])
    request = Req(
        options=Req.Options(
            group_name="g",
            settings=Req.Settings(
                consumer_strategy="RoundRobin",
                message_timeout_ticks=150_000_000,
                checkpoint_after_ms=2500,
                read_batch_size=20,
                history_buffer_size=50,
            ),
            all=Req.AllOptions(
                position=Req.Position(commit_position=42, prepare_position=42),
                filter=Req.AllOptions.FilterOptions(
                    stream_identifier=expression, max=10, checkpointIntervalMultiplier=1
                ),
            ),
        )
    )
    key, settings, start, event_filter = codec.parse_create(request)
    assert key == GroupKey(ALL, "g")
    assert (settings.consumer_strategy, settings.message_timeout_ms) == ("RoundRobin", 15_000)
    assert settings.checkpoint_after_ms == 2500
    assert start == StartPoint(StartKind.AT, 42)
    assert start.describe(is_all=True) == "C:42/P:42"
    assert event_filter == EventFilter(FilterTarget.STREAM, "", ("order-",))


def test_legacy_create_and_enum_strategy() -> None:
    request = Req(
        options=Req.Options(
            group_name="g",
            stream_identifier=stream_id("s"),
            settings=Req.Settings(revision=7, named_consumer_strategy=Req.Pinned),
        )
    )
    key, settings, start, _ = codec.parse_create(request)
    assert (key, settings.consumer_strategy, start.describe(False)) == (
        GroupKey("s", "g"),
        "Pinned",
        "7",
    )


def test_filter_multiplier_zero_fails() -> None:
    request = Req(
        options=Req.Options(
            group_name="g",
            all=Req.AllOptions(
                start=shared_pb2.Empty(),
                filter=Req.AllOptions.FilterOptions(
                    event_type=Req.AllOptions.FilterOptions.Expression(regex="^a"), max=1
                ),
            ),
        )
    )
    with pytest.raises(GroupFailedError):
        codec.parse_create(request)


def test_update_reads_the_enum_strategy_and_end() -> None:
    update = persistent_pb2.UpdateReq(
        options=persistent_pb2.UpdateReq.Options(
            group_name="g",
            settings=persistent_pb2.UpdateReq.Settings(
                named_consumer_strategy=persistent_pb2.UpdateReq.RoundRobin
            ),
            stream=persistent_pb2.UpdateReq.StreamOptions(
                stream_identifier=stream_id("s"), end=shared_pb2.Empty()
            ),
        )
    )
    key, settings, start = codec.parse_update(update)
    assert (key.source, settings.consumer_strategy, start.describe(False)) == (
        "s",
        "RoundRobin",
        "-1",
    )


def test_settings_validation() -> None:
    assert invalid_reason(GroupSettings()) is None
    assert invalid_reason(GroupSettings(history_buffer_size=100)) is not None
    assert invalid_reason(GroupSettings(consumer_strategy="Nope")) is not None


def test_error_shapes() -> None:
    key = GroupKey("s", "g")
    code, details, trailers = codec.error_status(MaxSubscribersError(key))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert details == "Maximum subscriptions reached for subscription group g on stream s."
    assert ("exception", "maximum-subscribers-reached") in trailers
    code, details, trailers = codec.error_status(GroupDroppedError(GroupKey("ß", "g")))
    assert (code, details) == (
        grpc.StatusCode.CANCELLED,
        "Subscription group g on stream ß was dropped.",
    )
    assert all(value.isascii() for _, value in trailers)


def test_events_carry_positions_retry_count_and_the_requested_id_form() -> None:
    log = FakeEventLog()
    target = log.append("s", "Happened", metadata=b'{"m":1}')
    link = log.link("links", target)
    delivery = Delivery("c", Message(target, link, link.revision, -1), 2)
    read = codec.read_event(delivery, structured=False).event
    assert (read.commit_position, read.retry_count) == (link.position, 2)
    assert read.event.id.string == target.event_id
    assert read.link.id.string == link.event_id
    assert read.event.metadata["type"] == "Happened"
    assert read.event.metadata["created"] == str(target.created)
    structured = codec.read_event(delivery, structured=True).event.event.id
    assert codec.event_id(structured) == target.event_id
    assert codec.event_id(shared_pb2.UUID(string=target.event_id.upper())) == target.event_id
    assert uuid.UUID(codec.event_id(structured))
