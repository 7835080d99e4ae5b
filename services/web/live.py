"""Live updates for the page: one grid's ``WatchGrid`` updates as Server-Sent Events.

``GET /live/{grid_id}`` (``?from_version=N`` or the ``Last-Event-ID`` header to resume)
forwards each ``GridUpdate`` as one event: ``event:`` the update's case (``snapshot``,
``event``, ``heartbeat``, ``resume``), ``id:`` its sequence (so a reconnecting client resumes
after the last one it applied), ``data:`` the update in protobuf's JSON mapping. When the
stream ends with a status (a slow reader told to resume, the broadcaster stopping, a missing
grid) the last event is ``error`` with the same body as the JSON API's errors.

Each page first opens its own WatchGrid call, with its own token and its own position (the
snapshot, or the events after ``from_version``): the broadcaster checks the token and the
request as for any watcher. As soon as that call has delivered a message and the grid's hub
(services/web/fanout.py: one shared WatchGrid call per grid in this process, with a replay of
its recent events) can continue from the page's position with no gap, the page's own call is
closed and the page follows the hub. The broadcaster thus sends one stream per grid, not one
per page; a slow page is cut off by the hub, as the broadcaster cuts off a slow watcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from protos.rover.v1 import live_pb2
from services.common.rich_errors import bad_request, error_info
from services.web.fanout import (
    STOPPING,
    Call,
    Frame,
    GridHub,
    GridHubs,
    LiveCalls,
    Member,
    OpenCall,
    follow,
    sse_frame,
)
from services.web.rpc import error_body, rpc_error_body, to_json

__all__ = [
    "FrameCache",
    "LiveRequestError",
    "live_events",
    "sse_frame",
    "update_frame",
    "watch_request",
]


class LiveRequestError(ValueError):
    """A live request the page got wrong, with its error body (INVALID_ARGUMENT)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body


def _version(text: str, source: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        message = f"{source} must be a whole number >= 0 (a sequence already applied), not {text!r}"
        raise LiveRequestError(
            error_body(
                grpc.StatusCode.INVALID_ARGUMENT,
                message,
                [bad_request([("from_version", message)]), error_info("FROM_VERSION_INVALID")],
            )
        )
    return value


def watch_request(
    grid_id: str, from_version: str | None, last_event_id: str | None
) -> live_pb2.WatchGridRequest:
    """The WatchGrid request of a live request: ``Last-Event-ID`` (a reconnecting
    EventSource) wins over ``from_version``; neither: the snapshot first, then changes."""
    request = live_pb2.WatchGridRequest(grid_id=grid_id)
    if last_event_id:
        request.from_version = _version(last_event_id, "Last-Event-ID")
    elif from_version is not None and from_version != "":
        request.from_version = _version(from_version, "from_version")
    return request


_WATCH_GRID = "/rover.v1.RoverLiveService/WatchGrid"


def update_frame(raw: bytes) -> Frame:
    """The event of one serialized ``GridUpdate``: its case, its sequence, it as JSON."""
    update = live_pb2.GridUpdate.FromString(raw)
    kind = update.WhichOneof("update") or "unknown"
    return Frame(kind, update.sequence, sse_frame(kind, to_json(update), update.sequence))


class FrameCache:
    """Each update's event, made once however many pages watch its grid: the broadcaster
    sends every watcher of a grid the same bytes for an event, so they key its frame."""

    def __init__(self, size: int = 4096) -> None:
        self._frames: dict[bytes, Frame] = {}
        self._size = size

    def frame(self, raw: bytes) -> Frame:
        """The event of ``raw`` (a serialized GridUpdate), from the cache when it is there."""
        frame = self._frames.get(raw)
        if frame is None:
            frame = update_frame(raw)
            if len(self._frames) >= self._size:
                del self._frames[next(iter(self._frames))]  # the oldest
            self._frames[raw] = frame
        return frame


def _open(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], calls: LiveCalls
) -> OpenCall:
    watch: grpc.aio.UnaryStreamMultiCallable[live_pb2.WatchGridRequest, bytes] = (
        channel.unary_stream(
            _WATCH_GRID, request_serializer=live_pb2.WatchGridRequest.SerializeToString
        )
    )  # no deserializer: the updates' bytes key the frame cache

    def open_call(request: live_pb2.WatchGridRequest) -> Call:
        call = watch(request, metadata=metadata)
        calls.add(call)
        return call

    return open_call


async def live_events(
    channel: grpc.aio.Channel,
    request: live_pb2.WatchGridRequest,
    metadata: tuple[tuple[str, str], ...],
    hubs: GridHubs,
    frames: FrameCache,
) -> AsyncIterator[bytes]:
    """The Server-Sent Events of one page: its own WatchGrid call until the grid's hub can
    take it with no gap, then the hub's shared call; ending with an ``error`` event when the
    call ends with a status. Cancelling this cancels the call or leaves the hub."""
    calls = hubs.calls
    if calls.stopping:
        yield sse_frame("error", STOPPING)
        return
    open_call = _open(channel, metadata, calls)
    joined: tuple[GridHub, Member] | None = None
    await hubs.first_calls.acquire()  # so that a crowd of new pages stays under the
    call = open_call(request)  # broadcaster's streams per client, with the shared calls
    try:
        async for raw in call:
            frame = frames.frame(raw)
            yield frame.data
            if frame.kind not in ("snapshot", "event", "heartbeat"):
                continue
            # The broadcaster took this page's token for this grid: it may join the hub.
            hub = hubs.hub(request.grid_id, frame.sequence, open_call, frames.frame)
            if hub.covers(frame.sequence):
                joined = hub, hub.join(frame.sequence)
                break
    except grpc.aio.AioRpcError as error:
        yield sse_frame("error", rpc_error_body(error))
        return
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if not calls.stopping or (task is not None and task.cancelling()):
            raise  # the browser went away (or the server is forced down): just stop
        yield sse_frame("error", STOPPING)
        return
    finally:
        hubs.first_calls.release()
        calls.discard(call)
        call.cancel()
    if joined is not None:
        async for data in follow(hubs, request.grid_id, *joined):
            yield data
