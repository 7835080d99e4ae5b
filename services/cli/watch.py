"""``rover watch``: fold WatchGrid updates into the map's grid, and follow it across restarts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import grpc

from protos.rover.v1 import common_pb2, live_pb2
from services.cli.render import describe_event

__all__ = ["UpdateStream", "Watch", "WatchGaveUpError", "apply_update"]


def apply_update(
    state: common_pb2.GridDetails | None, update: live_pb2.GridUpdate
) -> common_pb2.GridDetails | None:
    """The grid after ``update``: a snapshot replaces it, an event moves the rover it names."""
    kind = update.WhichOneof("update")
    if kind == "snapshot":
        snapshot = common_pb2.GridDetails()
        snapshot.CopyFrom(update.snapshot)
        return snapshot
    if kind != "event":
        return state  # heartbeat, resume: nothing changes on the map
    event = update.event.event
    if event.WhichOneof("payload") == "grid_created":
        created = event.grid_created
        return common_pb2.GridDetails(
            grid_id=event.grid_id,
            width=created.width,
            height=created.height,
            topology=created.topology,
            obstacles=created.obstacles,
            version=update.sequence,
        )
    if state is None:
        return None
    grid = common_pb2.GridDetails()
    grid.CopyFrom(state)
    grid.version = update.sequence
    if update.event.HasField("rover"):
        rover = update.event.rover
        for existing in grid.rovers:
            if existing.rover_id == rover.rover_id:
                existing.CopyFrom(rover)
                break
        else:
            grid.rovers.append(rover)
    return grid


class UpdateStream(Protocol):
    """A WatchGrid call as the sync stub returns it: an iterator one can cancel."""

    def __iter__(self) -> Iterator[live_pb2.GridUpdate]: ...

    def cancel(self) -> bool: ...


class WatchGaveUpError(Exception):
    """The live service did not come back within the retry time; ``last`` is the version."""

    def __init__(self, last: int | None, seconds: float) -> None:
        super().__init__(f"the live service did not come back within {seconds:g}s")
        self.last = last
        self.seconds = seconds


Show = Callable[[common_pb2.GridDetails | None, str, str], None]
"""Draws a frame: the grid (None before the first snapshot), the last event line, a note."""


@dataclass
class Watch:
    """Follows one grid, drawing after each change; resumes by itself when the stream is lost.

    After a restart of the live service (UNAVAILABLE, or the stream ends) it waits for the
    service with backoff and calls again with ``from_version`` = the last sequence drawn, which
    the service answers with exactly the later events: none is lost or drawn twice. It gives
    up with :class:`WatchGaveUpError` after ``retry_for`` seconds without an answer.
    """

    open_stream: Callable[[int | None], UpdateStream]
    wait_ready: Callable[[float], bool]
    show: Show
    retry_for: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    state: common_pb2.GridDetails | None = None
    last: int | None = None
    line: str = ""
    note: str = ""

    def run(self, from_version: int | None = None) -> None:
        """Watch until interrupted, the service refuses, or it stays away too long."""
        self.last = from_version
        answered = False  # before the first answer, errors are the caller's (exit 3 + hint)
        lost_since: float | None = None
        delay = _FIRST_DELAY
        while True:
            stream, asked = self.open_stream(self.last), False
            try:
                for update in stream:
                    answered, lost_since, delay = True, None, _FIRST_DELAY
                    if update.WhichOneof("update") == "resume":
                        self.last = update.resume.from_version
                        self._say(f"fell behind; resuming from version {self.last}")
                        asked = True
                        break
                    self._apply(update)
            except grpc.RpcError as error:
                code_of = getattr(error, "code", None)
                code = code_of() if callable(code_of) else None
                if not answered or code not in _RESUMABLE:
                    raise
            finally:
                stream.cancel()
            if asked:
                continue  # the service asked for this reconnection: no wait
            now = self.clock()
            lost_since = now if lost_since is None else lost_since
            left = self.retry_for - (now - lost_since)
            if left <= 0:
                raise WatchGaveUpError(self.last, self.retry_for)
            self._say(f"broadcaster unavailable; retrying for up to {self.retry_for:g}s")
            self.sleep(min(delay, left))
            delay = min(delay * 2, _MAX_DELAY)
            if self.wait_ready(max(self.retry_for - (self.clock() - lost_since), 0.0)):
                version = "a snapshot" if self.last is None else f"version {self.last}"
                self._say(f"broadcaster restarted; resuming from {version}")

    def _apply(self, update: live_pb2.GridUpdate) -> None:
        kind = update.WhichOneof("update")
        if kind not in ("snapshot", "event"):
            return  # a heartbeat
        if kind == "event" and self.last is not None and update.sequence <= self.last:
            return  # already drawn
        self.last = update.sequence
        self.state = apply_update(self.state, update)
        self.line = "snapshot" if kind == "snapshot" else describe_event(update.event.event)
        self.show(self.state, self.line, self.note)

    def _say(self, note: str) -> None:
        self.note = note
        self.show(self.state, self.line, note)


_FIRST_DELAY = 0.1
_MAX_DELAY = 2.0
_RESUMABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
