"""WatchGrid: the pre-serialised path and the plain (generated, message) path send the same."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from domain.grid import Grid
from domain.values import Direction, Position
from protos.rover.v1 import live_pb2
from services.broadcaster.adapters.fast_wire import encode_change
from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.broadcaster.application.subscription import Published
from services.broadcaster.application.watch import FellBehind, Heartbeat, Snapshot, Update
from services.broadcaster.grpc import mapping
from services.broadcaster.grpc.fast_updates import PreSerializedLiveServicer, update_bytes
from services.broadcaster.grpc.servicer import RoverLiveServicer
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import SAFETY, Appender, new_grid_id
from tests.unit.broadcaster.scripts import GridScript

_WATCH = "/rover.v1.RoverLiveService/WatchGrid"
Streamed = tuple[list[bytes], grpc.StatusCode | None, tuple[Any, ...]]


async def _raw_stream(target: str, request: live_pb2.WatchGridRequest, count: int) -> Streamed:
    """The first ``count`` responses as bytes off the wire, or the status the stream ended with."""
    async with grpc.aio.insecure_channel(target) as channel:
        # No response deserializer: each message comes back as the bytes sent.
        watch: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(_WATCH)
        call = watch(request.SerializeToString(), timeout=SAFETY)
        received: list[bytes] = []
        try:
            async for message in call:
                received.append(message)
                if len(received) == count:
                    call.cancel()
                    return received, None, ()
        except grpc.aio.AioRpcError as error:
            return received, error.code(), tuple(error.trailing_metadata() or ())
        return received, await call.code(), ()


def _spy(monkeypatch: pytest.MonkeyPatch, cls: type[RoverLiveServicer], seen: list[str]) -> None:
    method = cls.__dict__["WatchGrid"]

    async def spied(self: RoverLiveServicer, request: Any, context: Any) -> AsyncIterator[Any]:
        seen.append(cls.__name__)
        async for response in method(self, request, context):
            yield response

    monkeypatch.setattr(cls, "WatchGrid", spied)


async def test_both_paths_send_the_same_bytes(
    appender: Appender, start_broadcaster: StartBroadcaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    _spy(monkeypatch, RoverLiveServicer, seen)
    _spy(monkeypatch, PreSerializedLiveServicer, seen)
    script = GridScript(new_grid_id(), rovers=2)
    await appender.command(script, 6)
    requests = [
        live_pb2.WatchGridRequest(grid_id=script.grid_id),  # a snapshot, then live
        live_pb2.WatchGridRequest(grid_id=script.grid_id, from_version=0),  # replayed events
        live_pb2.WatchGridRequest(grid_id="bad id"),
        live_pb2.WatchGridRequest(grid_id=script.grid_id, from_version=script.version + 5),
    ]
    counts = [1, script.version, 1, 1]
    sent: dict[bool, list[Streamed]] = {}
    for fast in (True, False):
        broadcaster = await start_broadcaster(fast_updates=fast)
        target = f"127.0.0.1:{broadcaster.port}"
        sent[fast] = [
            await _raw_stream(target, r, n) for r, n in zip(requests, counts, strict=True)
        ]
    assert seen == ["PreSerializedLiveServicer"] * 4 + ["RoverLiveServicer"] * 4
    assert sent[True] == sent[False]
    snapshot, replay, bad, ahead = sent[True]
    assert live_pb2.GridUpdate.FromString(snapshot[0][0]).sequence == script.version
    assert len(replay[0]) == script.version
    assert bad[1] is grpc.StatusCode.INVALID_ARGUMENT
    assert ahead[1] is grpc.StatusCode.INVALID_ARGUMENT


def test_every_kind_of_update_is_the_same_bytes_on_both_paths() -> None:
    script = GridScript("g", rovers=1)
    stored = [StoredIntegrationEvent.of(e) for _ in range(3) for e in script.next()]
    grid = Grid.create("g", 3, 3)
    grid.create_rover("r", Position(1, 1), Direction.N)
    updates: list[Update[bytes]] = [
        *(Published(s.sequence, s, encode_change(s)) for s in stored),
        Snapshot(grid.snapshot()),
        FellBehind(3, "too slow"),
    ]
    kinds = {type(u) for u in updates} | {Heartbeat}
    assert kinds == {typing.get_origin(k) or k for k in typing.get_args(Update)}
    for update in updates:
        assert update_bytes(update) == mapping.update_message(update).SerializeToString()
    # A heartbeat carries the time it is sent: equal but for that.
    beats = [
        live_pb2.GridUpdate.FromString(update_bytes(Heartbeat(4))),
        mapping.update_message(Heartbeat(4)),
    ]
    for beat in beats:
        assert beat.heartbeat.sent_at.seconds > 0
        beat.heartbeat.ClearField("sent_at")
    assert beats[0] == beats[1]
