"""ServerFeatures.GetSupportedMethods: what this server implements, named as ESDB names it."""

from __future__ import annotations

from typing import Any

import grpc

from standins.eventstore.wire import serverfeatures_pb2, serverfeatures_pb2_grpc

__all__ = ["ServerFeaturesService"]

SERVER_VERSION = "24.10.0"
_STREAMS = "event_store.client.streams.streams"
_PERSISTENT = "event_store.client.persistent_subscriptions.persistentsubscriptions"
_PERSISTENT_METHODS = (
    "create",
    "update",
    "delete",
    "read",
    "getinfo",
    "replayparked",
    "list",
    "restartsubsystem",
)


def _method(service: str, name: str, *features: str) -> serverfeatures_pb2.SupportedMethod:
    return serverfeatures_pb2.SupportedMethod(
        method_name=name, service_name=service, features=list(features)
    )


class ServerFeaturesService(serverfeatures_pb2_grpc.ServerFeaturesServicer):
    """Lists the implemented methods; persistent ones only when that service is wired."""

    def __init__(self, *, persistent: bool) -> None:
        methods = [
            _method(_STREAMS, "read", "position", "events"),
            _method(_STREAMS, "append"),
            _method(_STREAMS, "delete"),
            _method(_STREAMS, "tombstone"),
            _method(_STREAMS, "batchappend", "deadline_duration"),
            _method("event_store.client.gossip.gossip", "read"),
            _method("event_store.client.server_features.serverfeatures", "getsupportedmethods"),
        ]
        if persistent:
            methods += [_method(_PERSISTENT, name, "stream", "all") for name in _PERSISTENT_METHODS]
        self._response = serverfeatures_pb2.SupportedMethods(
            methods=methods, event_store_server_version=SERVER_VERSION
        )

    async def GetSupportedMethods(  # noqa: N802 - gRPC method name
        self, request: serverfeatures_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> serverfeatures_pb2.SupportedMethods:
        return self._response
