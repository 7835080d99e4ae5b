"""WatchGrid's updates as ``rover.v1.GridUpdate`` messages (the plain path of the servicer).

An event's update arrives already serialised by the hub (adapters/wire.py, adapters/fast_wire.py):
it encodes each event once, whatever the number of watchers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import assert_never

from google.protobuf.timestamp_pb2 import Timestamp

from domain.snapshot import GridSnapshot
from protos.rover.v1 import common_pb2, live_pb2
from services.broadcaster.application.subscription import Published
from services.broadcaster.application.watch import FellBehind, Heartbeat, Snapshot, Update
from services.common.integration import position_to_proto, rover_to_proto, topology_to_proto

__all__ = ["heartbeat_update", "resume_update", "snapshot_update", "update_message"]


def snapshot_update(snapshot: GridSnapshot) -> live_pb2.GridUpdate:
    """The GridUpdate carrying a grid's full state."""
    state = snapshot.state
    details = common_pb2.GridDetails(
        grid_id=str(state.grid_id),
        width=state.width,
        height=state.height,
        topology=topology_to_proto(state.topology),
        obstacles=[position_to_proto(p) for p in sorted(state.obstacles)],
        rovers=[rover_to_proto(r) for r in state.rovers.values()],
        version=snapshot.version,
    )
    return live_pb2.GridUpdate(sequence=snapshot.version, snapshot=details)


def heartbeat_update(sequence: int, now: datetime | None = None) -> live_pb2.GridUpdate:
    """The GridUpdate of a heartbeat."""
    sent_at = Timestamp()
    sent_at.FromDatetime(now or datetime.now(UTC))
    return live_pb2.GridUpdate(sequence=sequence, heartbeat=live_pb2.Heartbeat(sent_at=sent_at))


def resume_update(sequence: int, reason: str) -> live_pb2.GridUpdate:
    """The GridUpdate telling a dropped watcher where to resume."""
    return live_pb2.GridUpdate(
        sequence=sequence, resume=live_pb2.Resume(from_version=sequence, reason=reason)
    )


def update_message(update: Update[bytes]) -> live_pb2.GridUpdate:
    """One of WatchGrid's updates as the message sent."""
    match update:
        case Published():
            return live_pb2.GridUpdate.FromString(update.payload)
        case Heartbeat():
            return heartbeat_update(update.sequence)
        case Snapshot():
            return snapshot_update(update.snapshot)
        case FellBehind():
            return resume_update(update.sequence, update.reason)
        case _:
            assert_never(update)
