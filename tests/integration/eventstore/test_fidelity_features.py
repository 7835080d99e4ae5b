"""ServerFeatures lists what is served; a method that is not (KurrentDB 25.x's) is UNIMPLEMENTED."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import grpc
import pytest

from standins.eventstore.wire import serverfeatures_pb2, serverfeatures_pb2_grpc

pytestmark = pytest.mark.slow
_DEADLINE = 5.0
_PATHS = {  # lowercase service name -> its gRPC path prefix
    "event_store.client.streams.streams": "/event_store.client.streams.Streams/",
    "event_store.client.gossip.gossip": "/event_store.client.gossip.Gossip/",
    "event_store.client.server_features.serverfeatures": (
        "/event_store.client.server_features.ServerFeatures/"
    ),
    "event_store.client.persistent_subscriptions.persistentsubscriptions": (
        "/event_store.client.persistent_subscriptions.PersistentSubscriptions/"
    ),
}
_METHODS = {
    "batchappend": "BatchAppend",
    "getsupportedmethods": "GetSupportedMethods",
    "getinfo": "GetInfo",
    "replayparked": "ReplayParked",
    "restartsubsystem": "RestartSubsystem",
}


@pytest.fixture
def channel(esdb_uri: str) -> Iterator[grpc.Channel]:
    address = urlsplit(esdb_uri.split(",", maxsplit=1)[0]).netloc
    with grpc.insecure_channel(address) as opened:
        yield opened


def _status(channel: grpc.Channel, path: str) -> grpc.StatusCode:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
    try:
        call(b"", timeout=_DEADLINE)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_multi_stream_append_and_other_unserved_methods_are_unimplemented(
    channel: grpc.Channel,
) -> None:
    for path in (
        "/kurrentdb.protocol.v2.StreamsService/MultiStreamAppend",
        "/kurrentdb.protocol.v2.StreamsService/MultiStreamAppendSession",
        "/event_store.client.streams.Streams/NoSuchMethod",
    ):
        assert _status(channel, path) == grpc.StatusCode.UNIMPLEMENTED, path


def test_every_listed_method_is_served(channel: grpc.Channel) -> None:
    stub = serverfeatures_pb2_grpc.ServerFeaturesStub(channel)
    listed = stub.GetSupportedMethods(serverfeatures_pb2.Empty(), timeout=_DEADLINE)
    assert listed.methods
    for method in listed.methods:
        prefix = _PATHS.get(method.service_name)
        if prefix is None:
            continue  # a service our store does not have (a real server lists more)
        name = _METHODS.get(method.method_name, method.method_name.capitalize())
        assert _status(channel, prefix + name) != grpc.StatusCode.UNIMPLEMENTED, name
