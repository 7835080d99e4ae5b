"""At start, a URI that cannot follow a new leader of a cluster is warned about, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from esdbclient.protos.Grpc import gossip_pb2, shared_pb2
from structlog.testing import capture_logs

from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.esdb_cluster import warn_if_leader_unfollowable
from services.query.adapters.memory import InMemoryReadModel
from services.query.bootstrap import build as build_query
from services.query.settings import QuerySettings
from standins.eventstore.gossip import GossipService
from standins.eventstore.server import EventStoreServer


@pytest.fixture
async def cluster(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EventStoreServer]:
    """Test hook: the stand-in's gossip lists two followers beside it, the leader, as a
    three-node EventStoreDB cluster does (started after patching: gRPC binds handlers then).
    The followers are the same server under another name, so a client sent to one is answered."""
    read = GossipService.Read

    async def three_members(
        self: GossipService, request: shared_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> gossip_pb2.ClusterInfo:
        info = await read(self, request, context)
        for _ in range(2):
            info.members.add(
                state=gossip_pb2.MemberInfo.VNodeState.Follower,
                is_alive=True,
                http_end_point=gossip_pb2.EndPoint(address="127.0.0.1", port=self.advertise_port),
            )
        return info

    monkeypatch.setattr(GossipService, "Read", three_members)
    async with EventStoreServer(db_path=None, port=0) as server:
        yield server


def _warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [r for r in logs if r["log_level"] == "warning"]


async def _check(uri: str) -> list[MutableMapping[str, Any]]:
    client = AsyncEventStoreDBClient(uri)
    await client.connect()
    try:
        with capture_logs() as logs:
            await warn_if_leader_unfollowable(client)
    finally:
        await client.close()
    return _warnings(logs)


async def test_one_host_of_a_cluster_is_warned_about_once(cluster: EventStoreServer) -> None:
    [warning] = await _check(cluster.uri)
    assert "esdb+discover://" in warning["event"]
    assert warning["members"] == 3


async def test_a_follower_preference_is_warned_about(cluster: EventStoreServer) -> None:
    target = f"{cluster.host}:{cluster.port}"
    uri = f"esdb://{target},{target}?Tls=false&NodePreference=follower"
    assert len(await _check(uri)) == 1


async def test_several_seeds_preferring_the_leader_are_fine(cluster: EventStoreServer) -> None:
    target = f"{cluster.host}:{cluster.port}"
    assert await _check(f"esdb://{target},{target}?Tls=false") == []


async def test_a_single_node_is_fine(eventstore: EventStoreServer) -> None:
    assert await _check(eventstore.uri) == []


async def test_a_store_that_cannot_answer_is_not_checked() -> None:
    assert await _check("esdb://127.0.0.1:1?Tls=false") == []


@pytest.mark.parametrize("service", ["command", "query"])
async def test_services_check_at_start(cluster: EventStoreServer, service: str) -> None:
    app: Any
    if service == "command":
        app = build_command(
            CommandSettings(
                command_address="127.0.0.1:0", eventstore_uri=cluster.uri, shutdown_grace_seconds=1
            )
        )
    else:
        settings = QuerySettings(
            query_address="127.0.0.1:0",
            eventstore_uri=cluster.uri,
            shutdown_grace_seconds=1,
            query_projector_enabled=False,
        )
        app = build_query(settings, read_model=InMemoryReadModel())
    with capture_logs() as logs:
        await app.start()
        await app.stop()
    assert [w["members"] for w in _warnings(logs) if "members" in w] == [3]


async def test_broadcaster_checks_when_its_feed_connects(cluster: EventStoreServer) -> None:
    app = build_broadcaster(
        BroadcasterSettings(
            broadcaster_address="127.0.0.1:0", eventstore_uri=cluster.uri, shutdown_grace_seconds=1
        )
    )
    with capture_logs() as logs:
        await app.start()
        try:
            async with asyncio.timeout(30):  # a generous bound on a condition, not a timing
                while not any("members" in w for w in _warnings(logs)):  # noqa: ASYNC110 - logs
                    await asyncio.sleep(0.01)
        finally:
            await app.stop()
    assert [w["members"] for w in _warnings(logs) if "members" in w] == [3]
