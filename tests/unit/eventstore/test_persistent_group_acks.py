"""A persistent-subscription group after delivery: acks, nacks, retries, parking, checkpoints."""

from __future__ import annotations

from standins.eventstore.persistent.messages import NackAction
from standins.eventstore.persistent.settings import EventFilter, FilterTarget
from tests.unit.eventstore.fake_log import FakeEventLog
from tests.unit.eventstore.persistent_support import (
    ON_ALL,
    RecordingParkedLog,
    append,
    ids,
    make_group,
)


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
