"""RoverLiveService.WatchGrid: a thin async-generator servicer and its one error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from domain.errors import DomainError, ErrorCategory, GridNotFoundError
from domain.values import GridId
from protos.rover.v1 import live_pb2, live_pb2_grpc
from services.broadcaster.application.hub import HubClosedError
from services.broadcaster.application.ports import StoreUnavailableError, UntrustedEventError
from services.broadcaster.application.watch import (
    FellBehind,
    FromVersionInvalidError,
    Update,
    WatchGrid,
)
from services.broadcaster.grpc.mapping import update_message
from services.common.grpc_server import Service
from services.common.logs import get_logger
from services.common.rich_errors import ErrorStatus, bad_request, error_info, not_found
from services.common.status_table import INTERNAL, Rule, StatusTable

__all__ = ["SERVICE_NAME", "Context", "RoverLiveServicer"]

SERVICE_NAME = "rover.v1.RoverLiveService"
_log = get_logger(__name__)

Context = grpc.aio.ServicerContext[live_pb2.WatchGridRequest, object]


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
            UntrustedEventError,
            lambda e: ErrorStatus(
                grpc.StatusCode.FAILED_PRECONDITION,
                str(e),
                (
                    error_info(
                        "INTEGRATION_EVENT_UNTRUSTED",
                        {"grid_id": e.grid_id, "sequence": str(e.sequence)},
                    ),
                ),
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

    Registered by the generated ``add_RoverLiveServiceServicer_to_server`` (see ``service``);
    grpc/fast_updates sends the hub's serialised updates as they are instead.
    """

    def __init__(self, watch: WatchGrid[bytes]) -> None:
        self._watch = watch

    async def WatchGrid(  # noqa: N802 - the RPC's name
        self, request: live_pb2.WatchGridRequest, context: Context
    ) -> AsyncIterator[live_pb2.GridUpdate]:
        """Stream one grid's updates until the client cancels or the stream must end."""
        async for update in self.updates(request, context):
            yield update_message(update)

    async def updates(
        self, request: live_pb2.WatchGridRequest, context: Context
    ) -> AsyncIterator[Update[bytes]]:
        """WatchGrid's updates; a stream that must end aborts through ``STATUS``."""
        from_version = request.from_version if request.HasField("from_version") else None
        try:
            grid_id = GridId(request.grid_id)
            async for update in self._watch.watch(grid_id, from_version):
                yield update
                if isinstance(update, FellBehind):  # its Resume was sent: end the call
                    raise WatcherFellBehindError(update.sequence, update.reason)
        except Exception as error:  # mapped by STATUS, or logged and INTERNAL
            await STATUS.abort(context, error)

    def service(self) -> Service:
        """The service to host, registered as generated."""
        return Service(
            SERVICE_NAME,
            lambda server: live_pb2_grpc.add_RoverLiveServiceServicer_to_server(self, server),
        )
