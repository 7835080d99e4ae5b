"""The persistent-subscription delivery algorithm, driven by an in-memory event log."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.eventstore.persistent.errors import MaxSubscribersError
from services.eventstore.persistent.group import Group
from services.eventstore.persistent.messages import Delivery, Message, NackAction
from services.eventstore.persistent.settings import (
    ALL,
    EventFilter,
    FilterTarget,
    GroupKey,
    GroupSettings,
)
from tests.unit.eventstore.fake_log import FakeEventLog

STREAM = GroupKey("orders-1", "g")
ON_ALL = GroupKey(ALL, "g")


class RecordingParkedLog:
    """Remembers what the group parked durably."""

    def __init__(self) -> None:
        self.rows: dict[int, Message] = {}

    def park(self, key: GroupKey, seq: int, message: Message) -> None:
        self.rows[seq] = message

    def unpark(self, key: GroupKey, seq: int) -> None:
        del self.rows[seq]


def make_group(
    log: FakeEventLog,
    key: GroupKey = STREAM,
    *,
    cursor: int | None = None,
    parked_log: RecordingParkedLog | None = None,
    event_filter: EventFilter | None = None,
    **settings: object,
) -> Group:
    base = GroupSettings(message_timeout_ms=1000, checkpoint_after_ms=0)
    return Group(
        key,
        replace(base, **settings),  # type: ignore[arg-type]
        log,
        cursor=(0 if key.is_all else -1) if cursor is None else cursor,
        event_filter=event_filter,
        parked_log=parked_log,
    )


def ids(deliveries: list[Delivery]) -> list[str]:
    return [d.message.ack_id for d in deliveries]


def append(log: FakeEventLog, count: int, stream: str = "orders-1") -> list[str]:
    return [log.append(stream).event_id for _ in range(count)]


# ---------------------------------------------------------------------------- start points
def test_stream_group_from_start_delivers_in_order_with_retry_count_zero() -> None:
    log = FakeEventLog()
    expected = append(log, 3)
    log.append("other")
    group = make_group(log)
    group.add_consumer("c1", 10)
    deliveries = group.pump(0.0)
    assert ids(deliveries) == expected
    assert [d.retry_count for d in deliveries] == [0, 0, 0]
    assert all(d.consumer_id == "c1" for d in deliveries)


def test_stream_group_from_a_revision_is_inclusive() -> None:
    log = FakeEventLog()
    events = append(log, 4)
    group = make_group(log, cursor=2 - 1)
    group.add_consumer("c1", 10)
    assert ids(group.pump(0.0)) == events[2:]


def test_all_group_from_a_position_is_inclusive_and_applies_its_filter() -> None:
    log = FakeEventLog()
    log.append("a", "Skipped")
    kept = log.append("b", "Kept")
    log.append("c", "Skipped")
    later = log.append("d", "Kept")
    only_kept = EventFilter(FilterTarget.EVENT_TYPE, regex="^Kept$")
    group = make_group(log, ON_ALL, cursor=kept.position - 1, event_filter=only_kept)
    group.add_consumer("c1", 10)
    assert ids(group.pump(0.0)) == [kept.event_id, later.event_id]
    assert group.cursor == later.position


def test_prefix_filter_on_stream_names() -> None:
    log = FakeEventLog()
    wanted = log.append("order-1")
    log.append("invoice-1")
    group = make_group(log, ON_ALL, event_filter=EventFilter(FilterTarget.STREAM, "", ("order",)))
    group.add_consumer("c1", 10)
    assert ids(group.pump(0.0)) == [wanted.event_id]


def test_a_new_event_is_delivered_on_the_next_pump() -> None:
    log = FakeEventLog()
    group = make_group(log)
    group.add_consumer("c1", 10)
    assert group.pump(0.0) == []
    assert group.caught_up
    event = log.append("orders-1")
    assert ids(group.pump(0.0)) == [event.event_id]


def test_resolved_links_deliver_the_target_and_are_acked_by_the_link_id() -> None:
    log = FakeEventLog()
    target = log.append("orders-1")
    link = log.link("links", target)
    group = make_group(log, GroupKey("links", "g"), resolve_links=True)
    group.add_consumer("c1", 10)
    [delivery] = group.pump(0.0)
    assert delivery.message.event == target
    assert delivery.message.link == link
    assert delivery.message.ack_id == link.event_id
    group.ack([link.event_id])
    assert group.in_flight_count == 0


# ---------------------------------------------------------------------------- strategies
def test_dispatch_to_single_fills_the_first_consumer_then_the_next() -> None:
    log = FakeEventLog()
    append(log, 5)
    group = make_group(log)
    group.add_consumer("c1", 3)
    group.add_consumer("c2", 3)
    assert [d.consumer_id for d in group.pump(0.0)] == ["c1"] * 3 + ["c2"] * 2


def test_round_robin_shares_equally() -> None:
    log = FakeEventLog()
    append(log, 9)
    group = make_group(log, consumer_strategy="RoundRobin")
    group.add_consumer("c1", 100)
    group.add_consumer("c2", 100)
    consumers = [d.consumer_id for d in group.pump(0.0)]
    assert abs(consumers.count("c1") - consumers.count("c2")) <= 1


def test_pinned_sends_one_stream_to_one_consumer() -> None:
    log = FakeEventLog()
    for i in range(12):
        log.append(f"s-{i % 3}")
    group = make_group(log, ON_ALL, consumer_strategy="Pinned")
    group.add_consumer("c1", 100)
    group.add_consumer("c2", 100)
    by_stream: dict[str, set[str]] = {}
    for delivery in group.pump(0.0):
        by_stream.setdefault(delivery.message.event.stream, set()).add(delivery.consumer_id)
    assert all(len(consumers) == 1 for consumers in by_stream.values())


def test_max_subscriber_count_refuses_one_more() -> None:
    group = make_group(FakeEventLog(), max_subscriber_count=2)
    group.add_consumer("c1", 1)
    group.add_consumer("c2", 1)
    with pytest.raises(MaxSubscribersError):
        group.add_consumer("c3", 1)


# ---------------------------------------------------------------------------- in-flight, acks
def test_buffer_size_limits_in_flight_and_acks_free_slots() -> None:
    log = FakeEventLog()
    events = append(log, 3)
    group = make_group(log)
    group.add_consumer("c1", 1)
    assert ids(group.pump(0.0)) == events[:1]
    assert group.pump(0.0) == []
    group.ack([events[0]])
    assert ids(group.pump(0.0)) == events[1:2]


def test_timeout_with_buffer_one_redelivers_first_then_continues() -> None:
    log = FakeEventLog()
    events = append(log, 3)
    group = make_group(log, message_timeout_ms=1000)
    group.add_consumer("c1", 1)
    assert ids(group.pump(0.0)) == events[:1]
    group.tick(0.5)
    assert group.pump(0.5) == []
    group.tick(1.0)
    [again] = group.pump(1.0)
    assert (again.message.ack_id, again.retry_count) == (events[0], 1)
    group.ack([events[0]])
    assert ids(group.pump(1.1)) == events[1:2]


def test_timeout_with_big_buffer_redelivers_only_the_unacked() -> None:
    log = FakeEventLog()
    events = append(log, 3)
    group = make_group(log, message_timeout_ms=1000)
    group.add_consumer("c1", 10)
    assert ids(group.pump(0.0)) == events
    group.ack(events[1:])
    group.tick(1.0)
    [again] = group.pump(1.0)
    assert (again.message.ack_id, again.retry_count) == (events[0], 1)


def test_max_retry_count_parks_after_the_last_retry() -> None:
    log = FakeEventLog()
    events = append(log, 3)
    parked = RecordingParkedLog()
    group = make_group(log, parked_log=parked, message_timeout_ms=100, max_retry_count=3)
    group.add_consumer("c1", 1)
    seen = []
    now = 0.0
    for _ in range(4):
        [delivery] = group.pump(now)
        seen.append((delivery.message.ack_id, delivery.retry_count))
        now += 0.1
        group.tick(now)
    assert seen == [(events[0], n) for n in range(4)]
    assert group.parked_count == 1
    assert [m.ack_id for m in parked.rows.values()] == [events[0]]
    assert ids(group.pump(now)) == events[1:2]


def test_nack_actions() -> None:
    log = FakeEventLog()
    park, retry, skip, stop = append(log, 4)
    parked = RecordingParkedLog()
    group = make_group(log, parked_log=parked)
    group.add_consumer("c1", 4)
    group.pump(0.0)
    group.nack([park], NackAction.PARK)
    group.nack([skip], NackAction.SKIP)
    group.nack([stop], NackAction.STOP)
    group.nack([retry], NackAction.RETRY)
    [again] = group.pump(0.0)
    assert (again.message.ack_id, again.retry_count) == (retry, 1)
    assert group.parked_count == 1
    group.ack([retry])
    assert group.checkpoint_candidate() == 3


def test_retries_go_out_before_new_events() -> None:
    log = FakeEventLog()
    first, second = append(log, 2)
    group = make_group(log)
    group.add_consumer("c1", 1)
    group.pump(0.0)
    group.nack([first], NackAction.RETRY)
    assert ids(group.pump(0.0)) == [first]
    group.ack([first])
    assert ids(group.pump(0.0)) == [second]


def test_a_leaving_consumer_has_its_messages_retried_at_once() -> None:
    log = FakeEventLog()
    events = append(log, 3)
    group = make_group(log)
    group.add_consumer("c1", 2)
    assert ids(group.pump(0.0)) == events[:2]
    group.remove_consumer("c1")
    group.add_consumer("c2", 10)
    deliveries = group.pump(0.0)
    assert ids(deliveries) == events
    assert [d.retry_count for d in deliveries] == [1, 1, 0]


def test_acked_events_are_never_delivered_again() -> None:
    log = FakeEventLog()
    events = append(log, 2)
    group = make_group(log)
    group.add_consumer("c1", 10)
    group.ack(ids(group.pump(0.0)))
    group.remove_consumer("c1")
    later = log.append("orders-1").event_id
    group.add_consumer("c2", 10)
    assert ids(group.pump(0.0)) == [later]
    assert events[0] not in ids(group.pump(0.0))


def test_a_late_ack_cancels_the_pending_retry() -> None:
    log = FakeEventLog()
    first, second = append(log, 2)
    group = make_group(log, message_timeout_ms=100)
    group.add_consumer("c1", 1)
    group.pump(0.0)
    group.tick(0.1)  # timed out: queued for retry
    group.ack([first])  # ...but the ack was only late
    assert ids(group.pump(0.1)) == [second]
    assert group.checkpoint_candidate() == 0


def test_acks_of_unknown_ids_are_ignored() -> None:
    log = FakeEventLog()
    append(log, 1)
    group = make_group(log)
    group.add_consumer("c1", 10)
    group.pump(0.0)
    group.ack(["00000000-0000-0000-0000-000000000000"])
    assert group.in_flight_count == 1


# ---------------------------------------------------------------------------- parked
def test_parked_messages_come_back_only_when_replayed_in_parking_order() -> None:
    log = FakeEventLog()
    events = append(log, 3)
    parked = RecordingParkedLog()
    group = make_group(log, parked_log=parked)
    group.add_consumer("c1", 10)
    group.pump(0.0)
    group.nack([events[1]], NackAction.PARK)
    group.nack([events[0]], NackAction.PARK)
    group.ack([events[2]])
    assert group.pump(0.0) == []
    group.replay_parked()
    deliveries = group.pump(0.0)
    assert ids(deliveries) == [events[0], events[1]]  # retry queue is in source order
    assert [d.retry_count for d in deliveries] == [0, 0]
    assert group.parked_count == 0
    assert len(parked.rows) == 2  # durable until acknowledged
    group.ack([events[0]])
    group.nack([events[1]], NackAction.PARK)
    assert group.parked_count == 1
    assert [m.ack_id for m in parked.rows.values()] == [events[1]]


def test_replay_with_a_limit() -> None:
    log = FakeEventLog()
    events = append(log, 3)
    group = make_group(log, parked_log=RecordingParkedLog())
    group.add_consumer("c1", 10)
    group.pump(0.0)
    group.nack(events, NackAction.PARK)
    group.replay_parked(2)
    assert ids(group.pump(0.0)) == events[:2]
    assert group.parked_count == 1


# ---------------------------------------------------------------------------- checkpoints
def test_checkpoint_is_just_before_the_lowest_unprocessed_message() -> None:
    log = FakeEventLog()
    events = append(log, 4)
    group = make_group(log, min_checkpoint_count=1)
    group.add_consumer("c1", 10)
    group.pump(0.0)
    assert group.checkpoint_candidate() == -1
    group.ack([events[0], events[2]])
    assert group.checkpoint_candidate() == 0
    assert group.due_checkpoint(1.0) == 0
    group.checkpoint_written(0, 1.0)
    group.ack([events[1], events[3]])
    assert group.checkpoint_candidate() == 3


def test_checkpoint_policy_counts_and_time() -> None:
    log = FakeEventLog()
    events = append(log, 5)
    group = make_group(
        log, min_checkpoint_count=2, max_checkpoint_count=4, checkpoint_after_ms=1000
    )
    group.add_consumer("c1", 10)
    group.pump(0.0)
    group.ack(events[:1])
    assert group.due_checkpoint(5.0) is None  # fewer than the minimum
    assert group.due_checkpoint(5.0, force=True) == 0
    group.ack(events[1:2])
    assert group.due_checkpoint(0.5) is None  # not long enough
    assert group.due_checkpoint(1.0) == 1
    group.ack(events[2:])
    assert group.due_checkpoint(0.1) == 4  # the maximum is reached
    group.checkpoint_written(4, 0.1)
    assert group.due_checkpoint(9.0) is None  # nothing new


def test_filtered_out_events_advance_the_checkpoint() -> None:
    log = FakeEventLog()
    wanted = log.append("a", "Kept")
    log.append("b", "Other")
    log.append("c", "Other")
    only_kept = EventFilter(FilterTarget.EVENT_TYPE, "^Kept$")
    group = make_group(log, ON_ALL, event_filter=only_kept, min_checkpoint_count=1)
    group.add_consumer("c1", 10)
    group.pump(0.0)
    group.ack([wanted.event_id])
    assert group.due_checkpoint(1.0) == 3
