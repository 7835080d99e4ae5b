"""``rover watch``: fold the WatchGrid stream into the grid the map shows (pure), and the loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from protos.rover.v1 import common_pb2, live_pb2

__all__ = ["apply_update", "follow"]


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


def follow(
    updates: Iterable[live_pb2.GridUpdate],
    draw: Callable[[common_pb2.GridDetails, live_pb2.GridUpdate], None],
    state: common_pb2.GridDetails | None = None,
) -> tuple[common_pb2.GridDetails | None, int | None]:
    """Draw after every snapshot or event; return the last state and the resume version.

    The resume version is set when the server asked the watcher to reconnect (``resume``).
    """
    for update in updates:
        if update.WhichOneof("update") == "resume":
            return state, update.resume.from_version
        state = apply_update(state, update)
        if state is not None and update.WhichOneof("update") in ("snapshot", "event"):
            draw(state, update)
    return state, None
