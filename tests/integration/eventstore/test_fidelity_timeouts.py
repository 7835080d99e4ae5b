"""EventStoreDB's timing of persistent-subscription message timeouts (checked on a 1 s tick)."""

from __future__ import annotations

import time
import uuid

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState

pytestmark = pytest.mark.slow


def _append(client: EventStoreDBClient, stream: str, type_: str) -> uuid.UUID:
    event = NewEvent(type=type_, data=b"{}")
    client.append_event(stream, current_version=StreamState.ANY, event=event)
    return event.id


def test_an_ack_later_than_the_timeout_but_before_the_next_tick_is_not_redelivered(
    client: EventStoreDBClient, stream_name: str
) -> None:
    # EventStoreDB checks message timeouts on a timer re-armed one second after each tick. The
    # redelivery of `first` shows a tick has just run; `second`, delivered right after it and
    # acked 0.3 s later (3x its 0.1 s timeout, plus the client's ack batching), is acked before
    # the next tick looks at it, so it is not sent again.
    group = f"group-{uuid.uuid4().hex}"
    first = _append(client, stream_name, "First")
    client.create_subscription_to_stream(
        group, stream_name, message_timeout=0.1, max_retry_count=10
    )
    subscription = client.read_subscription_to_stream(group, stream_name)
    try:
        received = iter(subscription)
        assert (next(received).id, 0) == (first, 0)  # not acked: it times out
        again = next(received)
        assert (again.id, again.retry_count) == (first, 1)
        subscription.ack(again)
        second = _append(client, stream_name, "Second")
        delivered = next(received)
        assert (delivered.id, delivered.retry_count) == (second, 0)
        time.sleep(0.3)
        subscription.ack(delivered)
        time.sleep(1.5)  # the next tick has run by now
        third = _append(client, stream_name, "Third")
        after = next(received)
        assert (after.id, after.retry_count) == (third, 0), "the acked event came back"
    finally:
        subscription.stop()
