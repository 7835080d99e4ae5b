"""The fake cluster (tests/support/leader_proxy.py), read by esdbclient as it reads EventStoreDB."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import (
    LeaderNotFound,
    NodeIsNotLeader,
    NotFound,
    ServiceUnavailable,
    WrongCurrentVersion,
)
from esdbclient.gossip import NODE_STATE_FOLLOWER, NODE_STATE_LEADER, NODE_STATE_OTHER

from services.command.adapters.esdb_appends import StockAppender
from services.command.adapters.pooled_appends import PooledAppender
from standins.eventstore.server import EventStoreServer
from tests.support.leader_proxy import LeaderProxy


@pytest.fixture
async def cluster(eventstore: EventStoreServer) -> AsyncIterator[LeaderProxy]:
    async with LeaderProxy(f"{eventstore.host}:{eventstore.port}", nodes=3) as proxy:
        yield proxy


@pytest.fixture
async def client(cluster: LeaderProxy) -> AsyncIterator[AsyncEventStoreDBClient]:
    client = AsyncEventStoreDBClient(cluster.uri)
    await client.connect()
    yield client
    await client.close()


def _events(*types: str) -> list[NewEvent]:
    return [NewEvent(type=t, data=b"{}", id=uuid.uuid4()) for t in types]


def _stream() -> str:
    return f"proxy-{uuid.uuid4().hex}"


async def _create(client: AsyncEventStoreDBClient, stream: str, *types: str) -> None:
    await client.append_to_stream(
        stream, current_version=StreamState.NO_STREAM, events=_events(*types)
    )


async def test_every_kind_of_call_is_forwarded_with_its_errors(
    cluster: LeaderProxy, client: AsyncEventStoreDBClient
) -> None:
    assert client.connection_target == cluster.nodes[0].target  # discovery found the leader
    stream = _stream()
    await _create(client, stream, "A", "B")
    assert [e.type for e in await client.get_stream(stream)] == ["A", "B"]  # server streaming
    assert await client.get_commit_position() > 0  # unary-shaped read of $all
    with pytest.raises(WrongCurrentVersion):  # an in-band BatchAppend refusal
        await client.append_to_stream(stream, current_version=0, events=_events("C"))
    with pytest.raises(NotFound):  # a status with its trailers
        await client.get_stream(_stream())
    subscription = await client.subscribe_to_stream(stream)
    async with subscription:
        assert [(await anext(subscription)).type for _ in range(2)] == ["A", "B"]
    assert cluster.nodes[0].forwarded >= 5
    async with asyncio.timeout(10):  # the subscription's cancellation reaches the node
        while cluster.nodes[0].calls:  # noqa: ASYNC110 - set by the node's handlers
            await asyncio.sleep(0.01)
    assert [n.forwarded for n in cluster.nodes[1:]] == [0, 0]


def _gossip(uri: str) -> list[tuple[str, str, int]]:
    client = EventStoreDBClient(uri)
    try:
        return [(m.state, m.address, m.port) for m in client.read_gossip()]
    finally:
        client.close()


async def test_gossip_lists_each_node_as_esdbclient_reads_it(cluster: LeaderProxy) -> None:
    # esdbclient's own (synchronous) gossip call, in a thread: the servers run in this loop.
    members = await asyncio.to_thread(_gossip, cluster.uri)
    expected = [
        (NODE_STATE_LEADER if n.index == 0 else NODE_STATE_FOLLOWER, "127.0.0.1", n.port)
        for n in cluster.nodes
    ]
    assert members == expected
    cluster.step_down(next_leader=2)
    members = await asyncio.to_thread(_gossip, cluster.uri + "&NodePreference=random")
    assert [m[0] for m in members] == [NODE_STATE_OTHER] * 3  # PreReplica, PreLeader


async def test_a_follower_preference_connects_to_a_follower(cluster: LeaderProxy) -> None:
    client = AsyncEventStoreDBClient(cluster.uri + "&NodePreference=follower")
    await client.connect()
    try:
        assert client.connection_target in {n.target for n in cluster.nodes[1:]}
        with pytest.raises(NotFound):  # requires-leader false: a follower reads
            await client.get_stream(_stream())
    finally:
        await client.close()
    assert sum(n.refused_not_leader for n in cluster.nodes) == 0


async def test_a_follower_names_the_leader_and_the_client_follows(
    cluster: LeaderProxy, client: AsyncEventStoreDBClient
) -> None:
    stream = _stream()
    await _create(client, stream, "A")
    await cluster.change_leader(to=1)  # no call in flight: the client still talks to node 0
    assert client.connection_target == cluster.nodes[0].target
    await client.append_to_stream(stream, current_version=0, events=_events("B"))
    assert cluster.nodes[0].refused_not_leader == 1  # refused, then retried on the leader
    assert client.connection_target == cluster.nodes[1].target
    assert [e.type for e in await client.get_stream(stream)] == ["A", "B"]


async def test_two_seeds_follow_a_leader_change(cluster: LeaderProxy) -> None:
    first, second = cluster.nodes[0].target, cluster.nodes[1].target
    client = AsyncEventStoreDBClient(f"esdb://{second},{first}?Tls=false")
    single = AsyncEventStoreDBClient(f"esdb://{first}?Tls=false")
    await client.connect()
    await single.connect()
    try:
        assert client.connection_target == first
        await cluster.change_leader(to=1)
        assert await client.get_commit_position() >= 0
        assert client.connection_target == second
        with pytest.raises(NodeIsNotLeader):  # one esdb:// host: esdbclient stays put
            await single.get_commit_position()
    finally:
        await client.close()
        await single.close()


async def test_a_leader_change_ends_the_old_leaders_calls_with_unavailable(
    cluster: LeaderProxy, client: AsyncEventStoreDBClient
) -> None:
    stream = _stream()
    await _create(client, stream, "A")
    subscription = await client.subscribe_to_stream(stream)
    assert (await anext(subscription)).type == "A"
    appender = PooledAppender(client)  # its BatchAppend call stays open between appends
    await appender.append(stream, 0, _events("B"), deadline=5)
    [(_, kept)] = appender._idle
    assert (await anext(subscription)).type == "B"
    await cluster.change_leader()
    with pytest.raises(ServiceUnavailable):
        await anext(subscription)
    assert cluster.nodes[0].dropped == 2
    assert await kept.code() == grpc.StatusCode.UNAVAILABLE
    await appender.append(stream, 1, _events("C"), deadline=5)  # fallback: reconnect, retry
    appender.close()
    assert client.connection_target == cluster.nodes[1].target
    assert [e.type for e in await client.get_stream(stream)] == ["A", "B", "C"]


async def test_without_a_leader_appends_are_refused_in_band_and_reads_unavailable(
    cluster: LeaderProxy, client: AsyncEventStoreDBClient
) -> None:
    stream = _stream()
    appender = PooledAppender(client)
    await appender.append(stream, StreamState.NO_STREAM, _events("A"), deadline=5)
    cluster.step_down(next_leader=1)
    with pytest.raises(ServiceUnavailable):  # the in-band "no leader" answer (pooled)
        await appender.append(stream, 0, _events("B"), deadline=5)
    with pytest.raises(ServiceUnavailable):  # the same, through esdbclient's append_to_stream
        await StockAppender(client).append(stream, 0, _events("B"), deadline=5)
    with pytest.raises(LeaderNotFound):  # "Server Is Not Ready", then no leader to find
        await client.get_stream(stream)
    assert cluster.nodes[0].refused_no_leader >= 3
    fresh = AsyncEventStoreDBClient(cluster.uri + "&MaxDiscoverAttempts=1")
    with pytest.raises(LeaderNotFound):
        await fresh.connect()
    cluster.elect(1)
    await appender.append(stream, 0, _events("B"), deadline=5)
    appender.close()
    assert client.connection_target == cluster.nodes[1].target
    assert [e.type for e in await client.get_stream(stream)] == ["A", "B"]
