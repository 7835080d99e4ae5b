"""RoverLiveService.WatchGrid: a thin async-generator servicer and its one error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from domain.errors import DomainError, ErrorCategory, GridNotFoundError
from domain.values import GridId
from protos.rover.v1 import live_pb2, live_pb2_grpc
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
from services.common.rich_errors import ErrorStatus, bad_request, error_info, not_found
from services.common.status_table import INTERNAL, Rule, StatusTable

__all__ = ["SERVICE_NAME", "STATUS", "RoverLiveServicer", "WatcherFellBehindError"]

SERVICE_NAME = "rover.v1.RoverLiveService"
_log = get_logger(__name__)

Context = grpc.aio.ServicerContext[live_pb2.WatchGridRequest, bytes]


class WatcherFellBehindError(Exception):
    """The stream's Resume message was sent; the call ends with RESOURCE_EXHAUSTED."""

    def __init__(self, sequence: int, reason: str) -> None:
        super().__init__(reason)
        self.sequence = sequence


def _from_version_invalid(error: FromVersionInvalidError) -> ErrorStatus:
    metadata = {"from_version": str(error.from_version)}
    if error.version is not None:
        metadata["version"] = str(error.version)
    return ErrorStatus(
        grpc.StatusCode.INVALID_ARGUMENT,
        str(error),
        (bad_request([("from_version", str(error))]), error_info("FROM_VERSION_INVALID", metadata)),
    )


def _invalid_argument(error: DomainError) -> ErrorStatus:
    if error.category is not ErrorCategory.INVALID_ARGUMENT:
        return INTERNAL
    return ErrorStatus(
        grpc.StatusCode.INVALID_ARGUMENT,
        str(error),
        (bad_request([(error.field or "grid_id", str(error))]), error_info(error.reason)),
    )


# THE mapping of the live service's failures to statuses (first match wins).
STATUS = StatusTable(
    "broadcaster",
    [
        Rule(GridNotFoundError, lambda e: not_found(e.grid_id)),
        Rule(DomainError, _invalid_argument),
        Rule(FromVersionInvalidError, _from_version_invalid),
        Rule(
            WatcherFellBehindError,
            lambda e: ErrorStatus(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{e}; resume with from_version {e.sequence}",
                (error_info("WATCHER_FELL_BEHIND", {"from_version": str(e.sequence)}),),
            ),
        ),
        Rule(
            HubClosedError,
            lambda e: ErrorStatus(
                grpc.StatusCode.UNAVAILABLE,
                "the broadcaster is shutting down; reconnect with from_version = the last sequence",
                (error_info("BROADCASTER_SHUTTING_DOWN"),),
            ),
        ),
        Rule(
            StoreUnavailableError,
            lambda e: ErrorStatus(
                grpc.StatusCode.UNAVAILABLE, str(e), (error_info("EVENT_STORE_UNAVAILABLE"),)
            ),
        ),
    ],
)


class RoverLiveServicer(live_pb2_grpc.RoverLiveServiceServicer):
    """RoverLiveService: parses the request, streams WatchGrid's updates, maps its errors.

    Responses are yielded already serialized (see ``service``): an event is encoded once by
    the hub, however many watchers it reaches.
    """

    def __init__(self, watch: WatchGrid[bytes]) -> None:
        self._watch = watch

    # Yields bytes, not GridUpdates: each is serialised once by the hub (see ``service``).
    async def WatchGrid(  # type: ignore[override]  # noqa: N802 - the RPC's name
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
        except Exception as error:  # mapped by STATUS, or logged and INTERNAL
            await STATUS.abort(context, error)

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
