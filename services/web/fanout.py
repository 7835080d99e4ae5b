"""One upstream ``WatchGrid`` per grid, shared by every page watching that grid.

A :class:`GridHub` reads one WatchGrid call for its grid and hands each update's frame to its
members (the pages following it), each through a bounded queue; it keeps the last
``replay_size`` events so that a page whose position is inside them joins without a gap. A
page joins only after its own WatchGrid call (opened with its own token, see
services/web/live.py) delivered a message: the broadcaster accepted that token for watching
this grid, so every member of the shared call is a page the broadcaster let watch it.

A member whose queue is full (its page reads too slowly) is cut off on the spot, its queue
freed, and its stream ends with ``resume`` (from the last sequence it was sent) and
``error`` RESOURCE_EXHAUSTED ``WATCHER_FELL_BEHIND``, as the broadcaster ends a slow gRPC
watcher's; the others never wait for it. When the shared call ends (the broadcaster stops,
this server stops), each member's stream ends with the same ``error`` event and the pages
resume. The last member to leave closes the shared call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

import grpc

from protos.rover.v1 import live_pb2
from services.common.logs import get_logger
from services.common.rich_errors import error_info
from services.web.rpc import error_body, rpc_error_body, to_json

__all__ = [
    "STOPPING",
    "Call",
    "Frame",
    "GridHub",
    "GridHubs",
    "LiveCalls",
    "Member",
    "OpenCall",
    "follow",
    "sse_frame",
]

_log = get_logger(__name__)


class Frame(NamedTuple):
    """One update as Server-Sent Event bytes, with its case and sequence."""

    kind: str
    sequence: int
    data: bytes


def sse_frame(event: str, data: object, event_id: int | None = None) -> bytes:
    """One Server-Sent Event: ``event:``, ``id:`` (when given) and ``data:`` (``data`` as
    one line of JSON: JSON escapes the line breaks inside strings)."""
    head = f"event: {event}\n" if event_id is None else f"event: {event}\nid: {event_id}\n"
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def fell_behind_frames(sequence: int) -> bytes:
    """The end of a page's stream that fell behind at ``sequence``: ``resume``, then ``error``
    RESOURCE_EXHAUSTED, both as the broadcaster words them for a slow gRPC watcher."""
    reason = "the page read its live stream too slowly and was dropped"
    update = live_pb2.GridUpdate(
        sequence=sequence, resume=live_pb2.Resume(from_version=sequence, reason=reason)
    )
    error = error_body(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"{reason}; resume with from_version {sequence}",
        [error_info("WATCHER_FELL_BEHIND", {"from_version": str(sequence)})],
    )
    return sse_frame("resume", to_json(update), sequence) + sse_frame("error", error)


_FELL_BEHIND = b""  # Member.end marker: build the end from the member's own position


class Member:
    """One page following a hub: its queue of frames, its position, how its stream ends."""

    def __init__(self, position: int) -> None:
        self.queue: deque[Frame] = deque()
        self.position = position  # the last sequence queued (or already sent) to the page
        self.sent = position  # the last event sequence written to the page
        self.end: bytes | None = None  # the stream's last bytes, once it must end
        self.wake = asyncio.Event()

    def finish(self, end: bytes) -> None:
        """End this member's stream after what it holds (``end`` is its last bytes)."""
        if self.end is None:
            self.end = end
            self.wake.set()


class GridHub:
    """One grid's shared WatchGrid call and the members it feeds."""

    def __init__(self, start: int, queue_size: int, replay_size: int) -> None:
        self.members: set[Member] = set()
        self._replay: deque[Frame] = deque(maxlen=replay_size)
        self._base = start  # events after this sequence are replayed or still to come
        self._queue_size = queue_size
        self.task: asyncio.Task[None] | None = None

    def covers(self, position: int) -> bool:
        """Whether a page that has applied ``position`` can join with no gap."""
        return self.task is not None and not self.task.done() and position >= self._base

    def join(self, position: int) -> Member:
        """A new member at ``position`` (see :meth:`covers`), its queue filled from the replay."""
        member = Member(position)
        for frame in self._replay:
            if frame.sequence > position:
                member.queue.append(frame)
                member.position = frame.sequence
        self.members.add(member)
        member.wake.set()
        return member

    def publish(self, frame: Frame) -> None:
        """Queue ``frame`` for every member that has not had it; cut off the full ones."""
        if frame.kind == "event":
            if len(self._replay) == self._replay.maxlen:
                self._base = self._replay[0].sequence
            self._replay.append(frame)
        elif frame.kind != "heartbeat":
            return  # no snapshot on a call opened from a version; resume ends the call
        for member in list(self.members):
            if frame.sequence < member.position or (
                frame.sequence == member.position and frame.kind == "event"
            ):
                continue  # it joined ahead of this frame
            if len(member.queue) >= self._queue_size:
                self.members.discard(member)
                member.queue.clear()
                member.finish(_FELL_BEHIND)
                continue
            member.queue.append(frame)
            member.position = frame.sequence
            member.wake.set()

    def close(self, end: bytes) -> None:
        """End every member's stream with ``end``."""
        for member in self.members:
            member.finish(end)
        self.members.clear()


FIRST_CALLS = 256
Call = grpc.aio.UnaryStreamCall[live_pb2.WatchGridRequest, bytes]
OpenCall = Callable[[live_pb2.WatchGridRequest], Call]
FrameOf = Callable[[bytes], Frame]


class LiveCalls:
    """The open WatchGrid calls (each page's own and the hubs'), so that a stopping server can
    end them (each stream then ends with an ``error`` event, UNAVAILABLE, and the page resumes
    elsewhere or later)."""

    def __init__(self) -> None:
        self._calls: set[Call] = set()
        self.stopping = False

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, call: Call) -> None:
        self._calls.add(call)

    def discard(self, call: Call) -> None:
        self._calls.discard(call)

    def end_all(self) -> None:
        """Refuse new streams and cancel the open calls."""
        self.stopping = True
        for call in list(self._calls):
            call.cancel()


class GridHubs:
    """The hubs of this process, by grid id."""

    def __init__(
        self, calls: LiveCalls | None = None, queue_size: int = 1024, replay_size: int = 1024
    ) -> None:
        self.calls = calls if calls is not None else LiveCalls()
        # The pages' own first calls open at once (the others wait for one to end): with
        # one shared call per grid, they stay under the broadcaster's
        # ROVER_MAX_WATCHERS_PER_CLIENT (1,024) for up to 768 grids watched.
        self.first_calls = asyncio.Semaphore(FIRST_CALLS)
        self._hubs: dict[str, GridHub] = {}
        self.queue_size = queue_size
        self.replay_size = replay_size

    def __len__(self) -> int:
        return len(self._hubs)

    def members(self, grid_id: str) -> int:
        """How many pages follow the grid's shared call."""
        hub = self._hubs.get(grid_id)
        return 0 if hub is None else len(hub.members)

    def hub(self, grid_id: str, position: int, open_call: OpenCall, frame_of: FrameOf) -> GridHub:
        """The grid's hub; one is opened from ``position`` (with ``open_call``) if none runs."""
        hub = self._hubs.get(grid_id)
        if hub is None or hub.task is None or hub.task.done():
            hub = GridHub(position, self.queue_size, self.replay_size)
            call = open_call(live_pb2.WatchGridRequest(grid_id=grid_id, from_version=position))
            self.calls.add(call)
            hub.task = asyncio.create_task(
                self._read(grid_id, hub, call, frame_of), name=f"hub-{grid_id}"
            )
            self._hubs[grid_id] = hub
        return hub

    async def _read(
        self,
        grid_id: str,
        hub: GridHub,
        call: Call,
        frame_of: FrameOf,
    ) -> None:
        end = _FELL_BEHIND
        try:
            async for raw in call:
                frame = frame_of(raw)
                if frame.kind == "resume":  # this process fell behind: every page resumes
                    break
                hub.publish(frame)
                if not hub.members:
                    return  # the last one was cut off (one who left cancels this task)
            else:
                end = sse_frame("error", _ENDED)
        except grpc.aio.AioRpcError as error:
            end = sse_frame("error", rpc_error_body(error))
        except asyncio.CancelledError:
            end = sse_frame("error", STOPPING)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the last member left, or the server is forced down
        finally:
            self.calls.discard(call)
            call.cancel()
            if self._hubs.get(grid_id) is hub:
                del self._hubs[grid_id]
            hub.close(end)

    def leave(self, grid_id: str, hub: GridHub, member: Member) -> None:
        """``member`` is gone; the hub's call is closed when it was the last."""
        hub.members.discard(member)
        if not hub.members and hub.task is not None:
            hub.task.cancel()
            if self._hubs.get(grid_id) is hub:
                del self._hubs[grid_id]

    async def close(self) -> None:
        """End every hub (each member's stream ends with ``error`` UNAVAILABLE)."""
        tasks = [hub.task for hub in self._hubs.values() if hub.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def follow(
    hubs: GridHubs, grid_id: str, hub: GridHub, member: Member
) -> AsyncIterator[bytes]:
    """A member's stream: what its queue holds, written in batches, then its end."""
    try:
        while True:
            if member.queue:
                batch = list(member.queue)
                member.queue.clear()
                for frame in batch:
                    if frame.kind == "event":
                        member.sent = frame.sequence
                yield b"".join(frame.data for frame in batch)
                continue
            if member.end is not None:
                yield member.end or fell_behind_frames(member.sent)
                return
            member.wake.clear()
            await member.wake.wait()
    finally:
        hubs.leave(grid_id, hub, member)


_ENDED = error_body(
    grpc.StatusCode.UNAVAILABLE,
    "the broadcaster ended the live stream: resume with from_version = the last sequence applied",
    [error_info("LIVE_STREAM_ENDED")],
)
STOPPING = error_body(
    grpc.StatusCode.UNAVAILABLE,
    "the web server is stopping: resume with from_version = the last sequence applied",
    [error_info("WEB_SERVER_STOPPING")],
)
