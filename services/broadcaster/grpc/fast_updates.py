"""WatchGrid sending each event's update as the bytes the hub serialised once for every watcher.

Saves parsing and re-serialising each event's GridUpdate per watcher (the plain servicer's
path); heartbeats, snapshots and resumes are the plain path's messages, serialised here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import assert_never

from protos.rover.v1 import live_pb2, live_pb2_grpc
from services.broadcaster.application.subscription import Published
from services.broadcaster.application.watch import FellBehind, Heartbeat, Snapshot, Update
from services.broadcaster.grpc.mapping import heartbeat_update, resume_update, snapshot_update
from services.broadcaster.grpc.servicer import SERVICE_NAME, Context, RoverLiveServicer
from services.common.grpc_server import Service
from services.common.raw_responses import add_with_raw_responses

__all__ = ["PreSerializedLiveServicer", "update_bytes"]


def update_bytes(update: Update[bytes]) -> bytes:
    """One of WatchGrid's updates as the serialised GridUpdate sent."""
    match update:
        case Published():
            return update.payload
        case Heartbeat():
            return heartbeat_update(update.sequence).SerializeToString()
        case Snapshot():
            return snapshot_update(update.snapshot).SerializeToString()
        case FellBehind():
            return resume_update(update.sequence, update.reason).SerializeToString()
        case _:
            assert_never(update)


class PreSerializedLiveServicer(RoverLiveServicer):
    """RoverLiveServicer whose WatchGrid yields serialised GridUpdates (sent unserialised)."""

    async def WatchGrid(  # type: ignore[override]  # noqa: N802 - the RPC's name
        self, request: live_pb2.WatchGridRequest, context: Context
    ) -> AsyncIterator[bytes]:
        """Stream one grid's updates as bytes."""
        async for update in self.updates(request, context):
            yield update_bytes(update)

    def service(self) -> Service:
        """The generated registration, WatchGrid's responses sent as the bytes it yields."""
        return Service(
            SERVICE_NAME,
            lambda server: add_with_raw_responses(
                live_pb2_grpc.add_RoverLiveServiceServicer_to_server, self, server, {"WatchGrid"}
            ),
        )
