"""Write ``v0.sqlite``: a database as the store wrote it before byte-offset positions.

Run with the code of commit 165f129 on the path (consecutive positions, ``user_version`` 0)::

    git archive 165f129 standins | tar -x -C /tmp/v0
    PYTHONPATH=/tmp/v0:. .venv/bin/python tests/integration/eventstore/data/make_v0_db.py OUT

Streams ``orders-1`` (an append of two events, then one) and ``orders-2`` (two); a persistent
group ``g-all`` on ``$all`` (orders only) that acked ``orders-1`` 0 and 1 and parked 2; a
group ``g-stream`` on ``orders-1`` that acked 0.
"""

from __future__ import annotations

import sys
import time

from esdbclient import EventStoreDBClient, NewEvent, StreamState

from standins.eventstore.server import BackgroundEventStore


def _event(type_: str) -> NewEvent:
    return NewEvent(type=type_, data=b'{"n":1}')


def main(path: str) -> None:
    with BackgroundEventStore(db_path=path) as server:
        client = EventStoreDBClient(server.uri)
        try:
            client.append_to_stream(
                "orders-1", current_version=StreamState.NO_STREAM, events=[_event("A"), _event("B")]
            )
            client.append_to_stream("orders-1", current_version=1, events=[_event("C")])
            client.append_to_stream(
                "orders-2", current_version=StreamState.NO_STREAM, events=[_event("D"), _event("E")]
            )
            client.create_subscription_to_all(
                "g-all", filter_include=["orders-.*"], filter_by_stream_name=True
            )
            subscription = client.read_subscription_to_all("g-all", event_buffer_size=3)
            for index, event in enumerate(subscription):
                if index < 2:
                    subscription.ack(event)
                else:
                    subscription.nack(event, action="park")
                    break
            client.create_subscription_to_stream("g-stream", "orders-1")
            stream_subscription = client.read_subscription_to_stream("g-stream", "orders-1")
            for event in stream_subscription:
                stream_subscription.ack(event)
                break
            time.sleep(0.5)  # let the batched acks arrive
            subscription.stop()
            stream_subscription.stop()
        finally:
            client.close()


if __name__ == "__main__":
    main(sys.argv[1])
