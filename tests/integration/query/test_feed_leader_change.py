"""EsdbEventFeed's reads follow a leader change (NotLeader, a node gone) through the reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NodeIsNotLeader

from services.common.store_errors import StoreUnavailableError
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.memory import InMemoryReadModel
from services.query.application.ports import FeedItem
from services.query.bootstrap import build
from services.query.settings import QuerySettings
from standins.eventstore.server import EventStoreServer
from standins.eventstore.streams import StreamsService
from tests.integration.query.conftest import publish
from tests.support.held_reads import HeldReads, held_reads  # noqa: F401
from tests.support.leader_proxy import LeaderProxy
from tests.unit.query.seed import rover_walk


class _LeaderChange:
    """Test hook: the stand-in refuses the next ``times`` reads (not subscriptions) as an
    EventStoreDB node does once it is no longer the leader (NOT_FOUND "Leader info available"
    with the leader's address in the trailers) or once it is going away (UNAVAILABLE)."""

    def __init__(self) -> None:
        self.server: EventStoreServer | None = None
        self.times = 0
        self.refusal = "not-leader"

    async def maybe_refuse(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self.times <= 0 or request.options.WhichOneof("count_option") == "subscription":
            return
        self.times -= 1
        if self.refusal == "unavailable":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "Server Is Not Ready")
        if self.refusal == "internal":  # another transient gRPC error: retried after a pause
            await context.abort(grpc.StatusCode.INTERNAL, "transient")
        assert self.server is not None
        host, port = self.server.host, self.server.port
        await context.abort(
            grpc.StatusCode.NOT_FOUND,
            "Leader info available",
            (
                ("exception", "not-leader"),
                ("leader-endpoint-host", host),
                ("leader-endpoint-port", str(port)),
            ),
        )


@pytest.fixture
async def leader_change(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[_LeaderChange]:
    """A stand-in started with the hook (gRPC binds its handlers when the server starts)."""
    change = _LeaderChange()
    read = StreamsService.Read

    async def read_or_refuse(
        self: StreamsService, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await change.maybe_refuse(request, context)
        async for message in read(self, request, context):
            yield message

    monkeypatch.setattr(StreamsService, "Read", read_or_refuse)
    async with EventStoreServer(db_path=None, port=0) as server:
        change.server = server
        yield change


def _seeds(eventstore: EventStoreServer) -> str:
    """Two seeds: the URI lets the client rediscover the cluster and follow its leader."""
    target = f"{eventstore.host}:{eventstore.port}"
    return f"esdb://{target},{target}?Tls=false"


async def _connected(uri: str) -> AsyncEventStoreDBClient:
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    return client


@pytest.mark.parametrize("refusal", ["not-leader", "unavailable", "internal"])
async def test_head_count_and_read_grid_follow_the_leader(
    leader_change: _LeaderChange, refusal: str
) -> None:
    assert leader_change.server is not None
    client = await _connected(_seeds(leader_change.server))
    try:
        history = rover_walk("lead", 1, 3)
        await publish(client, history)
        feed = EsdbEventFeed(client)
        leader_change.refusal = refusal
        leader_change.times = 1
        head = await feed.head()
        assert head is not None
        assert head.position > 0
        assert leader_change.times == 0  # the first read was refused; the retry answered
        leader_change.times = 1
        assert (await feed.count_after(-1, 100))[0] == len(history)
        assert leader_change.times == 0
        leader_change.times = 1
        grid = await feed.read_grid("lead", 1, len(history))
        assert [e.sequence for e in grid] == [e.sequence for e in history]
        assert leader_change.times == 0
    finally:
        await client.close()


async def test_a_single_host_uri_cannot_follow_the_leader(leader_change: _LeaderChange) -> None:
    assert leader_change.server is not None
    client = await _connected(leader_change.server.uri)
    try:
        await publish(client, rover_walk("single", 1, 1))
        leader_change.times = 1
        with pytest.raises(NodeIsNotLeader):  # esdbclient's rule: one esdb:// host stays put
            await EsdbEventFeed(client).head()
    finally:
        await client.close()


@pytest.fixture
async def follower_and_leader(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[EventStoreServer, EventStoreServer]]:
    """Test hook: two stand-ins; the first refuses every read as a follower does, naming the
    second as the leader (gRPC binds handlers at start, so both start after patching)."""
    services: list[StreamsService] = []
    servers: list[EventStoreServer] = []
    init, read = StreamsService.__init__, StreamsService.Read

    def recorded(self: StreamsService, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        services.append(self)

    async def follower_refuses(
        self: StreamsService, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        if self is services[0]:
            leader = servers[1]
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "Leader info available",
                (("leader-endpoint-host", leader.host), ("leader-endpoint-port", str(leader.port))),
            )
        async for message in read(self, request, context):
            yield message

    monkeypatch.setattr(StreamsService, "__init__", recorded)
    monkeypatch.setattr(StreamsService, "Read", follower_refuses)
    async with (
        EventStoreServer(db_path=None, port=0) as follower,
        EventStoreServer(db_path=None, port=0) as leader,
    ):
        servers.extend((follower, leader))
        yield follower, leader


async def test_the_lag_monitor_follows_the_leader(
    follower_and_leader: tuple[EventStoreServer, EventStoreServer],
) -> None:
    """The issue's finding: the lag monitor failed with NodeIsNotLeader until shutdown."""
    follower, _ = follower_and_leader
    settings = QuerySettings(
        query_address="127.0.0.1:0",
        eventstore_uri=_seeds(follower),
        shutdown_grace_seconds=1,
        query_projector_enabled=False,
        query_lag_interval_seconds=0.05,
    )
    app = build(settings, read_model=InMemoryReadModel())
    await app.start()
    try:
        async with asyncio.timeout(30):  # a generous bound on a condition, not a timing
            while app.parts.lag is None:  # noqa: ASYNC110 - set by the service's monitor loop
                await asyncio.sleep(0.01)
    finally:
        await app.stop()


async def _first_batches(feed: EsdbEventFeed, count: int) -> AsyncIterator[list[FeedItem]]:
    """The feed's subscription, once ``count`` events were delivered."""
    batches = feed.subscribe(None, 100)
    seen = 0
    while seen < count:
        seen += len([item for item in await anext(batches) if item.update or item.envelope])
    return batches


async def test_a_subscription_a_leader_change_drops_is_a_store_outage(
    eventstore: EventStoreServer,
) -> None:
    """The projector's supervisor waits out StoreUnavailableError (a warning), where it
    logged esdbclient's ServiceUnavailable as a failure with its traceback."""
    async with LeaderProxy(f"{eventstore.host}:{eventstore.port}") as cluster:
        client = await _connected(cluster.uri)
        try:
            history = rover_walk("dropped", 1, 2)
            await publish(client, history)
            batches = await _first_batches(EsdbEventFeed(client), len(history))
            await cluster.change_leader()
            with pytest.raises(StoreUnavailableError, match="ServiceUnavailable"):
                await anext(batches)
        finally:
            await client.close()


async def test_a_subscription_another_reconnect_ends_is_a_store_outage(
    eventstore: EventStoreServer,
) -> None:
    """esdbclient's reconnect (another task's, after a NotLeader) closes the channel under the
    subscription, which then ends quietly: not "the store ended it", an outage."""
    client = await _connected(eventstore.uri)
    try:
        history = rover_walk("closed", 1, 2)
        await publish(client, history)
        batches = await _first_batches(EsdbEventFeed(client), len(history))
        await client.reconnect()
        with pytest.raises(StoreUnavailableError):
            await anext(batches)
    finally:
        await client.close()


@pytest.fixture
async def held_store(held_reads: HeldReads) -> AsyncIterator[EventStoreServer]:  # noqa: F811
    """A stand-in started after the hook (gRPC binds handlers at start)."""
    async with EventStoreServer(db_path=None, port=0) as server:
        yield server


async def test_a_grid_read_another_reconnect_cut_short_is_read_again(
    held_store: EventStoreServer,
    held_reads: HeldReads,  # noqa: F811
) -> None:
    """A cut read looked complete: the gap it was to heal stayed open (an error logged)."""
    client = await _connected(held_store.uri)
    try:
        history = rover_walk("held", 1, 3)
        await publish(client, history)
        feed = EsdbEventFeed(client)
        held_reads.arm("integration-held")
        grid = await held_reads.cut_short(client, lambda: feed.read_grid("held", 1, len(history)))
        assert [e.sequence for e in grid] == [e.sequence for e in history]
    finally:
        await client.close()


@pytest.mark.parametrize("refusal", ["not-leader", "unavailable"])
async def test_a_read_refused_again_after_the_reconnect_is_a_store_outage(
    leader_change: _LeaderChange, refusal: str
) -> None:
    """An election outlasting the one retry: the lag monitor's supervisor waits it out with a
    warning, where it logged esdbclient's error as a failure with its traceback."""
    assert leader_change.server is not None
    client = await _connected(_seeds(leader_change.server))
    try:
        await publish(client, rover_walk("again", 1, 1))
        leader_change.refusal = refusal
        leader_change.times = 2
        with pytest.raises(StoreUnavailableError, match="a read"):
            await EsdbEventFeed(client).head()
        assert leader_change.times == 0
    finally:
        await client.close()
