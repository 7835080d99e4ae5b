"""LeaderFollowingClient: another task's reconnect retires the old connection instead of cutting
the calls still in flight on it; a call cancelled as it starts leaves no task pending; without
the esdbclient internals it needs, esdbclient's way.

The stand-in holds a read after its first event (``held_reads``) or an append's answer after
its commit (``held_appends``) while another task reconnects the shared client, as a task does
after NotLeader or an unavailable node. esdbclient's own reconnect closes the old channel then:
the read ends quietly truncated, the append is cancelled, a subscription ends.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import EventStoreDBClientException
from esdbclient.projections import AsyncProjectionsService
from structlog.testing import capture_logs

from services.common.esdb_client import LeaderFollowingClient
from standins.eventstore.server import EventStoreServer
from standins.eventstore.streams import StreamsService
from tests.support.held_reads import HeldReads, held_reads  # noqa: F401
from tests.support.leader_proxy import LeaderProxy

LONG_GRACE = 60.0  # longer than any wait below: a retired connection closed because its calls ended
DEADLINE = 30.0  # of the appends: an append that waited it out raises DeadlineExceeded


class HeldAppends:
    """The next append to a stream starting with the armed prefix is committed, and its answer
    held until released."""

    def __init__(self) -> None:
        self._prefix: str | None = None
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    def arm(self, prefix: str) -> None:
        self._prefix = prefix

    async def pause(self, stream: str) -> None:
        if self._prefix is not None and stream.startswith(self._prefix):
            self._prefix = None  # once
            self.reached.set()
            await self.released.wait()


@pytest.fixture
def held_appends(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldAppends]:
    held = HeldAppends()
    commit = StreamsService._commit_batch

    async def commit_held(self: StreamsService, batch: Any) -> Any:
        response = await commit(self, batch)
        await held.pause(batch.options.stream_identifier.stream_name.decode())
        return response

    monkeypatch.setattr(StreamsService, "_commit_batch", commit_held)
    yield held
    held.released.set()


@pytest.fixture
async def eventstore(held_reads: HeldReads) -> AsyncIterator[EventStoreServer]:  # noqa: F811
    """The stand-in, started after the hooks are in place (gRPC binds handlers at start)."""
    async with EventStoreServer(db_path=None, port=0) as server:
        yield server


@pytest.fixture
async def client(eventstore: EventStoreServer) -> AsyncIterator[LeaderFollowingClient]:
    client = LeaderFollowingClient(eventstore.uri, grace=LONG_GRACE)
    await client.connect()
    assert client.retires
    yield client
    await client.close()


def _event(kind: str = "Tested") -> NewEvent:
    return NewEvent(type=kind, data=b"{}", id=uuid.uuid4())


async def _stream_of(client: AsyncEventStoreDBClient, count: int) -> str:
    stream = f"retire-{uuid.uuid4().hex}"
    events = [_event() for _ in range(count)]
    await client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=events)
    return stream


async def _all_closed(client: LeaderFollowingClient) -> None:
    async with asyncio.timeout(LONG_GRACE / 2):  # a bound: the grace never ran out
        while client.retired:  # noqa: ASYNC110 - counted by the client's background tasks
            await asyncio.sleep(0.01)


def _logged_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()  # asyncio reports a destroyed pending task when it is collected
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [r for r in logs if r["log_level"] == "warning"]


async def test_a_read_in_flight_is_read_whole_through_another_tasks_reconnect(
    client: LeaderFollowingClient,
    held_reads: HeldReads,  # noqa: F811
) -> None:
    stream = await _stream_of(client, 5)
    held_reads.arm(stream)
    events = await held_reads.cut_short(client, lambda: client.get_stream(stream))
    assert len(events) == 5  # esdbclient's reconnect: fewer, the read ended quietly
    await _all_closed(client)


async def test_an_append_in_flight_is_answered_through_another_tasks_reconnect(
    client: LeaderFollowingClient,
    held_appends: HeldAppends,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    stream = f"retire-{uuid.uuid4().hex}"
    event = _event()
    held_appends.arm(stream)
    append = asyncio.ensure_future(
        client.append_to_stream(
            stream, current_version=StreamState.NO_STREAM, events=[event], timeout=DEADLINE
        )
    )
    await held_appends.reached.wait()  # committed; its answer is on hold
    await client.reconnect()  # esdbclient's waits for the append (5 s), then cancels it
    assert client.retired == 1
    held_appends.released.set()
    assert await append >= 0  # answered, before its deadline (else DeadlineExceeded)
    assert [e.id for e in await client.get_stream(stream)] == [event.id]  # once
    await _all_closed(client)  # as soon as the append ended: the grace is far off
    assert _logged_errors(caplog) == []


async def test_a_subscription_goes_on_through_another_tasks_reconnect_until_close(
    client: LeaderFollowingClient,
) -> None:
    stream = await _stream_of(client, 1)
    subscription = await client.subscribe_to_stream(stream)
    await anext(subscription)
    await client.reconnect()
    later = _event("Later")
    await client.append_to_stream(stream, current_version=0, events=[later])
    async with asyncio.timeout(LONG_GRACE / 2):
        assert (await anext(subscription)).id == later.id  # esdbclient's reconnect: it ended
    assert client.retired == 1  # the subscription still holds its connection
    await client.close()  # closes the retired connection too, without waiting out the grace
    assert client.retired == 0
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)


async def test_a_retired_connection_is_closed_after_the_grace(
    eventstore: EventStoreServer,
) -> None:
    client = LeaderFollowingClient(eventstore.uri, grace=0.1)
    await client.connect()
    try:
        stream = await _stream_of(client, 1)
        subscription = await client.subscribe_to_stream(stream)
        await anext(subscription)
        with capture_logs() as logs:
            await client.reconnect()
            await _all_closed(client)
        [closing] = [r for r in logs if r["event"].startswith("closing a retired")]
        assert closing["calls"] == 1
        with pytest.raises(StopAsyncIteration):  # cut, as esdbclient cuts it at once
            await anext(subscription)
    finally:
        await client.close()


async def test_an_append_cancelled_as_it_starts_leaves_no_task_pending(
    client: LeaderFollowingClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A task cancelled right after it started a BatchAppend (a publisher lane its task group
    cancels): grpc.aio never set the call up, and its request writer would wait for ever."""
    caplog.set_level(logging.ERROR)
    stream = f"retire-{uuid.uuid4().hex}"
    append = asyncio.ensure_future(
        client.append_to_stream(
            stream, current_version=StreamState.NO_STREAM, events=[_event()], timeout=DEADLINE
        )
    )
    await asyncio.sleep(0)  # the append started its call; grpc's set-up task has not run yet
    append.cancel()
    with pytest.raises(asyncio.CancelledError):
        await append
    for _ in range(10):  # grpc's tasks take their first steps, then wait for what never comes
        await asyncio.sleep(0)
    assert _logged_errors(caplog) == []  # stock: "Task was destroyed but it is pending!"


async def test_a_leader_change_retires_the_old_leaders_connection(
    eventstore: EventStoreServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Appends and a subscription while the leader changes: NotLeader and the old leader's
    UNAVAILABLE reconnect the client; every append is answered before its deadline, the old
    leader's connection is closed once the node ended its calls, and no task is destroyed."""
    caplog.set_level(logging.ERROR)
    async with LeaderProxy(f"{eventstore.host}:{eventstore.port}", nodes=3) as cluster:
        client = LeaderFollowingClient(cluster.uri, grace=LONG_GRACE)
        await client.connect()
        try:
            stream = await _stream_of(client, 1)
            subscription = await client.subscribe_to_stream(stream)
            await anext(subscription)
            stop = asyncio.Event()
            answered: list[int] = []
            failed: list[Exception] = []

            async def append_until_stopped(worker: int) -> None:
                own = f"{stream}-{worker}"
                while not stop.is_set():
                    try:
                        await client.append_to_stream(
                            own,
                            current_version=StreamState.ANY,
                            events=[_event()],
                            timeout=DEADLINE,
                        )
                    except EventStoreDBClientException as error:  # retried once already
                        failed.append(error)
                    else:
                        answered.append(worker)

            async def progressed(appends: int) -> None:
                target = len(answered) + appends
                while len(answered) < target:  # noqa: ASYNC110 - counted by the workers
                    await asyncio.sleep(0.01)

            workers = [asyncio.ensure_future(append_until_stopped(i)) for i in range(8)]
            for _ in range(2):
                await progressed(40)
                await cluster.change_leader()
            await progressed(40)
            stop.set()
            await asyncio.gather(*workers)
            assert client.connection_target == cluster.nodes[2].target
            assert sum(n.dropped for n in cluster.nodes) > 0
            assert set(answered) == set(range(8))
            assert failed == []  # none waited out its deadline (DeadlineExceeded), none cut
            with pytest.raises(EventStoreDBClientException):  # the old leader ended it
                await anext(subscription)
            await _all_closed(client)
        finally:
            await client.close()
    assert _logged_errors(caplog) == []


async def test_without_its_client_internals_it_reconnects_as_esdbclient_does(
    eventstore: EventStoreServer,
    held_reads: HeldReads,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect = AsyncEventStoreDBClient._connect

    async def renamed(self: AsyncEventStoreDBClient, target: str | None = None) -> Any:
        return await connect(self, target)  # an upgrade that renamed the parameter

    monkeypatch.setattr(AsyncEventStoreDBClient, "_connect", renamed)
    with capture_logs() as logs:
        client = LeaderFollowingClient(eventstore.uri, grace=LONG_GRACE)
        await client.connect()
        try:
            assert not client.retires
            stream = await _stream_of(client, 5)
            held_reads.arm(stream)
            events = await held_reads.cut_short(client, lambda: client.get_stream(stream))
            assert len(events) < 5  # cut short: esdbclient closed the old connection at once
            assert client.retired == 0
            await client.reconnect()
        finally:
            await client.close()
    [warning] = _warnings(logs)
    assert warning["missing"] == ["_connect(grpc_target)"]


async def test_without_its_connection_internals_it_reconnects_as_esdbclient_does(
    eventstore: EventStoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    init = AsyncProjectionsService.__init__

    def without_stub(self: AsyncProjectionsService, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        del self._stub  # an upgrade that moved it (no projection is called here)

    monkeypatch.setattr(AsyncProjectionsService, "__init__", without_stub)
    with capture_logs() as logs:
        client = LeaderFollowingClient(eventstore.uri, grace=LONG_GRACE)
        await client.connect()
        try:
            assert not client.retires
            stream = await _stream_of(client, 2)
            await client.reconnect()
            assert client.retired == 0
            assert len(await client.get_stream(stream)) == 2
        finally:
            await client.close()
    [warning] = _warnings(logs)
    assert "_stub" in warning["missing"][0]
