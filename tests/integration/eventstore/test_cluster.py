"""Gossip (esdb:// with several targets and esdb+discover://), ServerFeatures, health."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from esdbclient import EventStoreDBClient, StreamState
from esdbclient.exceptions import FollowerNotFound
from grpc_health.v1 import health_pb2, health_pb2_grpc

from standins.eventstore.wire import serverfeatures_pb2, serverfeatures_pb2_grpc
from tests.integration.eventstore.helpers import events

pytestmark = pytest.mark.slow


def _host_port(uri: str) -> tuple[str, int]:
    authority = uri.split("://", 1)[1].split("?", 1)[0].rsplit("@", maxsplit=1)[-1]
    target = authority.split(",", maxsplit=1)[0]
    host, _, port = target.partition(":")
    return host, int(port or 2113)


@pytest.fixture
def channel(esdb_uri: str, real_esdb: bool) -> Iterator[grpc.Channel]:
    if real_esdb:
        pytest.skip("raw insecure channel to our server only")
    host, port = _host_port(esdb_uri)
    with grpc.insecure_channel(f"{host}:{port}") as opened:
        yield opened


def test_gossip_lists_one_live_leader(
    client: EventStoreDBClient, esdb_uri: str, real_esdb: bool
) -> None:
    members = client.read_gossip()
    assert len(members) == 1
    assert members[0].state == "NODE_STATE_LEADER"
    if not real_esdb:  # ours advertises localhost and its listening port by default
        assert (members[0].address, members[0].port) == ("localhost", _host_port(esdb_uri)[1])


@pytest.mark.parametrize("scheme", ["esdb://{h}:{p},{h}:{p}", "esdb+discover://{h}:{p}"])
def test_discovery_uris_reach_the_leader(
    esdb_uri: str, real_esdb: bool, scheme: str, stream_name: str
) -> None:
    if real_esdb:
        pytest.skip("builds URIs from our insecure server's address")
    host, port = _host_port(esdb_uri)
    discovering = EventStoreDBClient(scheme.format(h=host, p=port) + "?Tls=false")
    try:
        discovering.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=events("A")
        )
        assert [e.type for e in discovering.get_stream(stream_name)] == ["A"]
    finally:
        discovering.close()


def test_follower_preference_fails_on_a_single_leader(esdb_uri: str, real_esdb: bool) -> None:
    if real_esdb:
        pytest.skip("needs our single-node server")
    host, port = _host_port(esdb_uri)
    uri = f"esdb+discover://{host}:{port}?Tls=false&NodePreference=follower&MaxDiscoverAttempts=1"
    with pytest.raises(FollowerNotFound):
        EventStoreDBClient(uri)


def test_server_features_list_the_methods(channel: grpc.Channel) -> None:
    stub = serverfeatures_pb2_grpc.ServerFeaturesStub(channel)
    reply = stub.GetSupportedMethods(serverfeatures_pb2.Empty(), timeout=10)
    names = {(m.service_name, m.method_name) for m in reply.methods}
    assert ("event_store.client.streams.streams", "batchappend") in names
    assert ("event_store.client.gossip.gossip", "read") in names
    assert len(reply.event_store_server_version.split(".")) == 3


def test_health_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
