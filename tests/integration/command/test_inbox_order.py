"""The order check against the real store: a command whose predecessor in its inbox stream is
unanswered (in flight on another instance) waits and is handed back; once the predecessor's
reply is in the store, it runs. Forces the race a moved pin can cause."""

from __future__ import annotations

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from protos.rover.v1 import command_pb2
from services.command.adapters.esdb_inbox import EsdbInboxHistory, EsdbReplyLog
from services.command.application.inbox import InboxProcessor, QueuedCommand, Reply
from services.command.application.inbox_order import InboxOrder
from services.command.bootstrap import CommandApp
from services.command.grpc.inbox_codec import RESULT_TYPE, ProtoInboxCodec
from tests.integration.command.conftest import ServiceFactory, new_id
from tests.integration.command.test_inbox import enqueue, grid_request, rover_request
from tests.support.inbox import FakeSubscription, delivery


async def inbox_events(esdb: AsyncEventStoreDBClient, stream: str) -> list[QueuedCommand]:
    """The stream's events as deliveries (what another instance's subscription would get)."""
    return [
        delivery(stream, event.stream_position, event.type, event.data)
        for event in await esdb.get_stream(stream)
    ]


def processor(app: CommandApp, esdb: AsyncEventStoreDBClient) -> InboxProcessor:
    """A second consumer over the real store, as another instance would run it."""
    replies = EsdbReplyLog(esdb, timeout=5, max_age_seconds=3600)
    codec = ProtoInboxCodec()
    history = EsdbInboxHistory(esdb, timeout=5, max_age_seconds=3600)
    order = InboxOrder(history, codec, replies, wait_seconds=0.2)
    return InboxProcessor(
        app.parts.handlers, codec, replies, order=order, max_attempts=5, concurrency=4
    )


async def test_a_command_runs_only_after_the_one_before_it_is_answered(
    start_service: ServiceFactory, esdb: AsyncEventStoreDBClient
) -> None:
    app = await start_service(command_inbox_enabled=False)  # nothing consumes the inbox
    grid_id = new_id()
    stream = f"rover-inbox-{grid_id}"
    await enqueue(esdb, grid_request(grid_id), stream=stream)
    await enqueue(esdb, rover_request(grid_id), stream=stream)
    first, second = await inbox_events(esdb, stream)

    # Only the second reaches this instance; the first is still out elsewhere, unanswered.
    early = FakeSubscription([second])
    await processor(app, esdb).run(early)
    assert early.retried == [second]
    assert early.acked == []

    # The first is answered (here by another processor); then the second runs.
    await processor(app, esdb).run(FakeSubscription([first]))
    later = FakeSubscription([second])
    inbox = processor(app, esdb)
    await inbox.run(later)
    assert later.acked == [second]
    assert inbox.applied == 1
    created = command_pb2.CreateRoverRequest.FromString(second.data)
    assert len(await esdb.get_stream(f"grid-{created.grid_id}")) == 2


async def test_a_reply_far_back_in_a_busy_reply_stream_is_found(
    esdb: AsyncEventStoreDBClient,
) -> None:
    """The order check searches a shared reply stream back to its inbox event's time."""
    grid_id = new_id()
    stream = f"rover-inbox-{grid_id}"
    await enqueue(esdb, grid_request(grid_id), stream=stream)
    await enqueue(esdb, rover_request(grid_id), stream=stream)
    answered, unanswered = await inbox_events_with_times(esdb, stream)
    replies = EsdbReplyLog(esdb, timeout=5, max_age_seconds=3600)
    shared = f"busy-{grid_id}"
    await replies.append(shared, Reply(RESULT_TYPE, b""), request_id="r", queued=answered)
    others = [NewEvent(type="rover.v1.CommandResult", data=b"") for _ in range(1_200)]
    await esdb.append_to_stream(shared, current_version=StreamState.ANY, events=others)
    assert await replies.answered(shared, answered)
    assert not await replies.answered(shared, unanswered)
    assert not await replies.answered(f"none-{grid_id}", answered)


async def inbox_events_with_times(
    esdb: AsyncEventStoreDBClient, stream: str
) -> list[QueuedCommand]:
    history = EsdbInboxHistory(esdb, timeout=5, max_age_seconds=3600)
    found = [await history.previous(stream, revision) for revision in (1, 2)]
    assert all(q is not None and q.recorded_at is not None for q in found)
    return [q for q in found if q is not None]
