"""Server-Sent Event frames of the live stream: the format, and one frame per update."""

from __future__ import annotations

import json

import pytest

from protos.rover.v1 import common_pb2, live_pb2
from services.web.live import FrameCache, LiveRequestError, sse_frame, update_frame, watch_request


def _heartbeat(sequence: int) -> bytes:
    return live_pb2.GridUpdate(
        sequence=sequence, heartbeat=live_pb2.Heartbeat()
    ).SerializeToString()


def test_a_frame_has_its_event_id_and_one_line_of_json() -> None:
    frame = sse_frame("error", {"message": "two\nlines"}, None)
    assert frame == b'event: error\ndata: {"message":"two\\nlines"}\n\n'
    snapshot = live_pb2.GridUpdate(
        sequence=3,
        snapshot=common_pb2.GridDetails(
            grid_id="mars", width=2, height=2, topology=common_pb2.TOPOLOGY_BOUNDED, version=3
        ),
    )
    framed = update_frame(snapshot.SerializeToString())
    assert (framed.kind, framed.sequence) == ("snapshot", 3)
    lines = framed.data.decode().split("\n")
    assert lines[:2] == ["event: snapshot", "id: 3"]
    data = json.loads(lines[2].removeprefix("data: "))
    assert data["snapshot"]["topology"] == "TOPOLOGY_BOUNDED"
    assert data["snapshot"]["obstacles"] == []  # zeros and empties are printed
    assert lines[3:] == ["", ""]


def test_each_update_is_framed_once_and_the_cache_stays_bounded() -> None:
    cache = FrameCache(size=2)
    first = cache.frame(_heartbeat(1))
    assert cache.frame(_heartbeat(1)) is first
    cache.frame(_heartbeat(2))
    cache.frame(_heartbeat(3))  # evicts the oldest
    again = cache.frame(_heartbeat(1))
    assert again == first
    assert again is not first


def test_last_event_id_wins_over_from_version_and_bad_ones_are_refused() -> None:
    assert watch_request("mars", "2", "5").from_version == 5
    assert watch_request("mars", "2", None).from_version == 2
    assert not watch_request("mars", None, None).HasField("from_version")
    with pytest.raises(LiveRequestError, match="from_version must be a whole number"):
        watch_request("mars", "x", None)
