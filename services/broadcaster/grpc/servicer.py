"""RoverLiveService.WatchGrid: a thin async-generator servicer and its one error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message

from domain.errors import DomainError, ErrorCategory, GridNotFoundError
from domain.values import GridId
from protos.rover.v1 import live_pb2
from services.broadcaster.application.hub import HubClosedError
from services.broadcaster.application.ports import StoreUnavailableError
from services.broadcaster.application.subscription import Published
from services.broadcaster.application.watch import (
    FellBehind,
    FromVersionInvalidError,
    Heartbeat,
    Snapshot,
    WatchGrid,
)
from services.broadcaster.grpc.mapping import encode_heartbeat, encode_resume, encode_snapshot
from services.common.grpc_server import Service
from services.common.logs import get_logger
from services.common.rich_errors import abort, bad_request, error_info, not_found

__all__ = ["SERVICE_NAME", "RoverLiveServicer", "WatcherFellBehindError", "status_of"]

SERVICE_NAME = "rover.v1.RoverLiveService"
_log = get_logger(__name__)

Context = grpc.aio.ServicerContext[live_pb2.WatchGridRequest, bytes]


class WatcherFellBehindError(Exception):
    """The stream's Resume message was sent; the call ends with RESOURCE_EXHAUSTED."""

    def __init__(self, sequence: int, reason: str) -> None:
        super().__init__(reason)
        self.sequence = sequence


def status_of(error: Exception) -> tuple[grpc.StatusCode, str, list[Message]] | None:
    """THE error mapping of the live service: a status for every expected failure."""
    if isinstance(error, GridNotFoundError):
        code, message, found = not_found(error.grid_id)
        return code, message, list(found)
    if isinstance(error, DomainError) and error.category is ErrorCategory.INVALID_ARGUMENT:
        return (
            grpc.StatusCode.INVALID_ARGUMENT,
            str(error),
            [bad_request([(error.field or "grid_id", str(error))]), error_info(error.reason)],
        )
    if isinstance(error, FromVersionInvalidError):
        metadata = {"from_version": str(error.from_version)}
        if error.version is not None:
            metadata["version"] = str(error.version)
        return (
            grpc.StatusCode.INVALID_ARGUMENT,
            str(error),
            [
                bad_request([("from_version", str(error))]),
                error_info("FROM_VERSION_INVALID", metadata),
            ],
        )
    if isinstance(error, WatcherFellBehindError):
        return (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{error}; resume with from_version {error.sequence}",
            [error_info("WATCHER_FELL_BEHIND", {"from_version": str(error.sequence)})],
        )
    if isinstance(error, HubClosedError):
        return (
            grpc.StatusCode.UNAVAILABLE,
            "the broadcaster is shutting down; reconnect with from_version = the last sequence",
            [error_info("BROADCASTER_SHUTTING_DOWN")],
        )
    if isinstance(error, StoreUnavailableError):
        return (grpc.StatusCode.UNAVAILABLE, str(error), [error_info("EVENT_STORE_UNAVAILABLE")])
    return None


class RoverLiveServicer:
    """RoverLiveService: parses the request, streams WatchGrid's updates, maps its errors.

    Responses are yielded already serialized (see ``service``): an event is encoded once by
    the hub, however many watchers it reaches.
    """

    def __init__(self, watch: WatchGrid[bytes]) -> None:
        self._watch = watch

    async def WatchGrid(  # noqa: N802 - the RPC's name
        self, request: live_pb2.WatchGridRequest, context: Context
    ) -> AsyncIterator[bytes]:
        """Stream one grid's updates until the client cancels or the stream must end."""
        from_version = request.from_version if request.HasField("from_version") else None
        try:
            grid_id = GridId(request.grid_id)
            async for update in self._watch.watch(grid_id, from_version):
                if isinstance(update, Published):
                    yield update.payload
                elif isinstance(update, Heartbeat):
                    yield encode_heartbeat(update.sequence)
                elif isinstance(update, Snapshot):
                    yield encode_snapshot(update.snapshot)
                elif isinstance(update, FellBehind):
                    yield encode_resume(update.sequence, update.reason)
                    raise WatcherFellBehindError(update.sequence, update.reason)
        except Exception as error:  # mapped below, or logged and INTERNAL
            status = status_of(error)
            if status is None:
                _log.exception("WatchGrid failed", grid_id=request.grid_id)
                status = (grpc.StatusCode.INTERNAL, "internal error", [])
            code, message, details = status
            ctx: Any = context
            await abort(ctx, code, message, *details)

    def service(self) -> Service:
        """The service to host: WatchGrid, its responses sent as the bytes it yields.

        No response serializer: grpc sends ``bytes`` as they are, without a Python call.
        """
        handler = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "WatchGrid": grpc.unary_stream_rpc_method_handler(
                    self.WatchGrid,
                    request_deserializer=live_pb2.WatchGridRequest.FromString,
                )
            },
        )
        return Service(SERVICE_NAME, lambda server: server.add_generic_rpc_handlers((handler,)))
