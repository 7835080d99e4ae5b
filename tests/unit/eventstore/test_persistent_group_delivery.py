"""Which events a persistent-subscription group delivers, from where, and to which consumer."""

from __future__ import annotations

import pytest

from standins.eventstore.persistent.errors import MaxSubscribersError
from standins.eventstore.persistent.settings import EventFilter, FilterTarget, GroupKey
from tests.unit.eventstore.fake_log import FakeEventLog
from tests.unit.eventstore.persistent_support import ON_ALL, append, ids, make_group


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
