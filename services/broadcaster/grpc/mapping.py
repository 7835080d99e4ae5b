"""Snapshots, heartbeats and resumes as serialized ``rover.v1.GridUpdate`` messages.

An event's update is encoded by the adapters (adapters/wire.py, adapters/fast_wire.py): the
hub encodes each event once, whatever the number of watchers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from domain.snapshot import GridSnapshot
from protos.rover.v1 import common_pb2, live_pb2
from services.common.integration import position_to_proto, rover_to_proto, topology_to_proto

__all__ = ["encode_heartbeat", "encode_resume", "encode_snapshot"]


def encode_snapshot(snapshot: GridSnapshot) -> bytes:
    """The serialized GridUpdate carrying a grid's full state."""
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
    return live_pb2.GridUpdate(sequence=snapshot.version, snapshot=details).SerializeToString()


def encode_heartbeat(sequence: int, now: datetime | None = None) -> bytes:
    """The serialized GridUpdate of a heartbeat."""
    sent_at = Timestamp()
    sent_at.FromDatetime(now or datetime.now(UTC))
    return live_pb2.GridUpdate(
        sequence=sequence, heartbeat=live_pb2.Heartbeat(sent_at=sent_at)
    ).SerializeToString()


def encode_resume(sequence: int, reason: str) -> bytes:
    """The serialized GridUpdate telling a dropped watcher where to resume."""
    return live_pb2.GridUpdate(
        sequence=sequence, resume=live_pb2.Resume(from_version=sequence, reason=reason)
    ).SerializeToString()
