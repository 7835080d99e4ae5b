"""Persistent subscriptions across server restarts, and their errors exactly as on the wire."""

from __future__ import annotations

import functools
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import grpc
import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.protos.Grpc import persistent_pb2, persistent_pb2_grpc, shared_pb2

from standins.eventstore.process import EventStoreProcess

pytestmark = pytest.mark.slow

ProcessFactory = Callable[..., EventStoreProcess]
Stub = persistent_pb2_grpc.PersistentSubscriptionsStub


def append(client: EventStoreDBClient, stream: str, count: int) -> list[uuid.UUID]:
    events = [NewEvent(type="Happened", data=b"{}") for _ in range(count)]
    client.append_events(stream, current_version=StreamState.ANY, events=events)
    return [e.id for e in events]


def first_event(client: EventStoreDBClient, group: str, stream: str) -> uuid.UUID:
    subscription = client.read_subscription_to_stream(group, stream)
    try:
        return next(iter(subscription)).id
    finally:
        subscription.stop()


def test_graceful_restart_resumes_after_the_checkpoint_and_keeps_parked(
    eventstore_process: ProcessFactory, tmp_path: Path
) -> None:
    process = eventstore_process(str(tmp_path / "es.sqlite"))
    client = EventStoreDBClient(process.uri)
    try:
        client.create_subscription_to_stream("g", "orders", message_timeout=12.5)
        ids = append(client, "orders", 5)
        subscription = client.read_subscription_to_stream("g", "orders")
        for event in subscription:
            if event.id == ids[3]:
                subscription.nack(event, "park")
            elif event.id != ids[4]:
                subscription.ack(event)
            if event.id == ids[4]:
                break
        subscription.stop()
    finally:
        client.close()
    assert process.terminate() == 0
    process.restart()
    client = EventStoreDBClient(process.uri)
    try:
        info = client.get_subscription_info("g", "orders")
        assert (info.message_timeout, info.parked_message_count) == (12.5, 1)
        assert info.last_checkpointed_event_position == "3"
        assert first_event(client, "g", "orders") == ids[4]
        client.replay_parked_events("g", "orders")
        subscription = client.read_subscription_to_stream("g", "orders")
        try:
            received = [next(iter(subscription)).id for _ in range(2)]
        finally:
            subscription.stop()
        assert sorted(received) == sorted([ids[3], ids[4]])
    finally:
        client.close()


def test_checkpoints_written_by_policy_survive_kill_9(
    eventstore_process: ProcessFactory, tmp_path: Path
) -> None:
    process = eventstore_process(str(tmp_path / "es.sqlite"))
    client = EventStoreDBClient(process.uri)
    try:
        client.create_subscription_to_stream(
            "g", "orders", min_checkpoint_count=1, checkpoint_after=0.0
        )
        ids = append(client, "orders", 5)
        subscription = client.read_subscription_to_stream("g", "orders", max_ack_delay=0.05)
        try:
            for event in subscription:
                subscription.ack(event)
                if event.id == ids[2]:
                    break
            deadline = time.monotonic() + 10
            while (
                client.get_subscription_info("g", "orders").last_checkpointed_event_position != "2"
            ):
                assert time.monotonic() < deadline, "no checkpoint was written"
                time.sleep(0.05)
        finally:
            subscription.stop()
    finally:
        client.close()
    process.kill()
    process.restart()
    client = EventStoreDBClient(process.uri)
    try:
        assert first_event(client, "g", "orders") == ids[3]
    finally:
        client.close()


# ---------------------------------------------------------------------------- wire errors
@pytest.fixture
def stub(
    esdb_uri: str, real_esdb: bool
) -> Iterator[persistent_pb2_grpc.PersistentSubscriptionsStub]:
    if real_esdb:
        pytest.skip("raw insecure channel to our own server only")
    address = urlparse(esdb_uri).netloc
    with grpc.insecure_channel(address) as channel:
        yield persistent_pb2_grpc.PersistentSubscriptionsStub(channel)  # type: ignore[no-untyped-call]


def failure(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert isinstance(error, grpc.Call)
    trailers = {k: v for k, v in error.trailing_metadata() or () if isinstance(v, str)}
    return error.code(), error.details() or "", trailers


def create_req(stream: str, group: str, history: int = 500) -> persistent_pb2.CreateReq:
    settings = persistent_pb2.CreateReq.Settings(
        read_batch_size=200,
        history_buffer_size=history,
        max_retry_count=10,
        message_timeout_ms=30000,
        checkpoint_after_ms=2000,
        max_checkpoint_count=1000,
        min_checkpoint_count=10,
        max_subscriber_count=5,
        live_buffer_size=500,
        consumer_strategy="DispatchToSingle",
    )
    stream_options = persistent_pb2.CreateReq.StreamOptions(
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()),
        start=shared_pb2.Empty(),
    )
    return persistent_pb2.CreateReq(
        options=persistent_pb2.CreateReq.Options(
            group_name=group, settings=settings, stream=stream_options
        )
    )


def test_errors_carry_esdb_status_details_and_trailers(stub: Stub, stream_name: str) -> None:
    where = f"Subscription group g on stream {stream_name}"
    names = {"stream-name": stream_name, "group-name": "g"}
    get_info = persistent_pb2.GetInfoReq(
        options=persistent_pb2.GetInfoReq.Options(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream_name.encode()),
            group_name="g",
        )
    )
    code, details, trailers = failure(lambda: stub.GetInfo(get_info))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, f"{where} does not exist.")
    assert trailers == {"exception": "persistent-subscription-does-not-exist", **names}

    code, details, trailers = failure(lambda: stub.Create(create_req(stream_name, "g", 100)))
    assert code == grpc.StatusCode.INTERNAL
    assert details.startswith(f"{where} failed: '")
    assert trailers["exception"] == "persistent-subscription-failed"
    assert trailers["reason"]

    stub.Create(create_req(stream_name, "g"))
    code, details, trailers = failure(lambda: stub.Create(create_req(stream_name, "g")))
    assert (code, details) == (grpc.StatusCode.ALREADY_EXISTS, f"{where} exists.")
    assert trailers == {"exception": "persistent-subscription-exists", **names}

    listed = stub.List(
        persistent_pb2.ListReq(
            options=persistent_pb2.ListReq.Options(
                list_for_stream=persistent_pb2.ListReq.StreamOption(
                    stream=shared_pb2.StreamIdentifier(stream_name=b"no-such-stream")
                )
            )
        )
    )
    assert list(listed.subscriptions) == []


def read_options(stream: str, group: str) -> persistent_pb2.ReadReq:
    return persistent_pb2.ReadReq(
        options=persistent_pb2.ReadReq.Options(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()),
            group_name=group,
            buffer_size=10,
            uuid_option=persistent_pb2.ReadReq.Options.UUIDOption(string=shared_pb2.Empty()),
        )
    )


def test_a_malformed_ack_or_nack_ends_the_read_with_invalid_argument(
    stub: Stub, stream_name: str, esdb_uri: str
) -> None:
    client = EventStoreDBClient(esdb_uri)
    try:
        (event_id,) = append(client, stream_name, 1)
    finally:
        client.close()
    stub.Create(create_req(stream_name, "g"))
    bad_ack = persistent_pb2.ReadReq(
        ack=persistent_pb2.ReadReq.Ack(ids=[shared_pb2.UUID(string="not-a-uuid")])
    )
    bad_nack = persistent_pb2.ReadReq(
        nack=persistent_pb2.ReadReq.Nack(
            ids=[shared_pb2.UUID(string=str(event_id))],
            action=persistent_pb2.ReadReq.Nack.Action.ValueType(9),  # no such action
            reason="?",
        )
    )
    for attempt, (bad, wanted) in enumerate(
        [(bad_ack, "An event id is not a UUID"), (bad_nack, "'9' is not a valid nack action.")]
    ):
        requests: queue.SimpleQueue[persistent_pb2.ReadReq | None] = queue.SimpleQueue()
        requests.put(read_options(stream_name, "g"))
        responses = stub.Read(iter(requests.get, None), timeout=10)
        try:
            assert next(responses).WhichOneof("content") == "subscription_confirmation"
            delivered = next(responses).event
            # Unacked by the first call, the event comes again to the second, as a retry.
            assert delivered.event.id.string == str(event_id)
            assert delivered.retry_count == attempt
            requests.put(bad)
            code, details, trailers = failure(functools.partial(list, responses))
        finally:
            requests.put(None)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith(wanted), details
        assert trailers == {}  # ESDB's InvalidArgument carries no trailers
