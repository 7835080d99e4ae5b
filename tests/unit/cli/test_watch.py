"""``rover watch``: the fold of updates into the map's grid, and resuming after a restart."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from protos.rover.v1 import common_pb2, events_pb2, live_pb2
from services.cli.watch import Watch, WatchGaveUpError, apply_update

P = common_pb2.Position
N, S = common_pb2.DIRECTION_NORTH, common_pb2.DIRECTION_SOUTH


class _Error(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


class _Stream:
    """A scripted WatchGrid call: its updates, then an error (or its end)."""

    def __init__(self, updates: list[live_pb2.GridUpdate], end: BaseException | None) -> None:
        self.updates, self.end, self.cancelled = updates, end, False

    def __iter__(self) -> Iterator[live_pb2.GridUpdate]:
        yield from self.updates
        if self.end is not None:
            raise self.end

    def cancel(self) -> bool:
        self.cancelled = True
        return True


def _grid() -> common_pb2.GridDetails:
    rover = common_pb2.Rover(rover_id="spirit", position=P(x=1, y=1), facing=N)
    return common_pb2.GridDetails(grid_id="mars", width=5, height=4, rovers=[rover], version=9)


def _snapshot() -> live_pb2.GridUpdate:
    return live_pb2.GridUpdate(sequence=9, snapshot=_grid())


def _moved(sequence: int, y: int) -> live_pb2.GridUpdate:
    rover = common_pb2.Rover(rover_id="spirit", position=P(x=1, y=y), facing=N)
    event = events_pb2.IntegrationEvent(
        grid_id="mars",
        sequence=sequence,
        rover_moved_forward=events_pb2.RoverMovedForward(
            rover_id="spirit", from_position=P(x=1, y=y - 1), to_position=P(x=1, y=y), facing=N
        ),
    )
    return live_pb2.GridUpdate(
        sequence=sequence, event=live_pb2.GridChange(event=event, rover=rover)
    )


def _heartbeat(sequence: int) -> live_pb2.GridUpdate:
    return live_pb2.GridUpdate(sequence=sequence, heartbeat=live_pb2.Heartbeat())


class _Script:
    """The fakes around one Watch: streams by call, a clock that sleeping moves on."""

    def __init__(self, streams: list[_Stream], ready: bool = True) -> None:
        self.streams, self.ready = streams, ready
        self.asked: list[int | None] = []
        self.frames: list[tuple[int | None, str, str]] = []
        self.now = 0.0
        self.waits = 0

    def open_stream(self, from_version: int | None) -> _Stream:
        self.asked.append(from_version)
        return self.streams.pop(0)

    def wait_ready(self, seconds: float) -> bool:
        self.waits += 1
        if not self.ready:
            self.now += seconds
        return self.ready

    def show(self, state: common_pb2.GridDetails | None, line: str, note: str) -> None:
        self.frames.append((None if state is None else state.version, line, note))

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def watch(self, retry_for: float = 30.0) -> Watch:
        return Watch(
            self.open_stream, self.wait_ready, self.show, retry_for,
            clock=lambda: self.now, sleep=self.sleep,
        )  # fmt: skip


def test_fold_snapshot_then_events() -> None:
    landed = common_pb2.Rover(rover_id="new", position=P(x=3, y=3), facing=S)
    state = apply_update(None, _snapshot())
    state = apply_update(state, _moved(10, 2))
    state = apply_update(state, live_pb2.GridUpdate(sequence=11, event=live_pb2.GridChange(
        event=events_pb2.IntegrationEvent(sequence=11), rover=landed)))  # fmt: skip
    assert state is not None
    rovers = {r.rover_id: (r.position.x, r.position.y, r.facing) for r in state.rovers}
    assert rovers == {"spirit": (1, 2, N), "new": (3, 3, S)}
    assert state.version == 11
    assert _grid().version == 9  # the snapshot was copied, not mutated
    created = events_pb2.IntegrationEvent(
        sequence=1, grid_id="g", grid_created=events_pb2.GridCreated(width=3, height=3)
    )
    first = apply_update(
        None, live_pb2.GridUpdate(sequence=1, event=live_pb2.GridChange(event=created))
    )
    assert first is not None
    assert (first.width, first.height, first.version) == (3, 3, 1)
    assert apply_update(None, _moved(5, 1)) is None


def test_a_restart_resumes_from_the_last_sequence_and_says_so() -> None:
    unavailable = _Error(grpc.StatusCode.UNAVAILABLE)
    script = _Script([
        _Stream([_snapshot(), _moved(10, 2)], unavailable),
        _Stream([], unavailable),  # the new broadcaster is not serving yet
        _Stream([_heartbeat(10), _moved(11, 3)], None),
        _Stream([_moved(12, 4)], KeyboardInterrupt()),
    ])  # fmt: skip
    watch = script.watch()
    with pytest.raises(KeyboardInterrupt):
        watch.run()
    assert script.asked == [None, 10, 10, 11]
    lines = [line for _, line, _ in script.frames]
    drawn = [line for i, line in enumerate(lines) if i == 0 or lines[i - 1] != line]
    assert [line.split()[0] for line in drawn] == ["snapshot", "#10", "#11", "#12"]
    notes = [note for _, _, note in script.frames]
    assert "broadcaster unavailable; retrying for up to 30s" in notes
    assert "broadcaster restarted; resuming from version 10" in notes
    assert script.frames[-1] == (12, "#12 spirit moved forward (1,3) -> (1,4) facing N", notes[-1])
    assert watch.state is not None
    assert watch.state.rovers[0].position == P(x=1, y=4)


def test_a_resume_message_reconnects_at_once_from_its_version() -> None:
    resume = live_pb2.GridUpdate(sequence=10, resume=live_pb2.Resume(from_version=10))
    first = _Stream(
        [_snapshot(), _moved(10, 2), resume], _Error(grpc.StatusCode.RESOURCE_EXHAUSTED)
    )
    script = _Script([first, _Stream([_moved(11, 3)], KeyboardInterrupt())])
    with pytest.raises(KeyboardInterrupt):
        script.watch().run()
    assert script.asked == [None, 10]
    assert first.cancelled
    assert script.waits == 0
    assert script.frames[-1][2] == "fell behind; resuming from version 10"


def test_it_gives_up_after_the_retry_time() -> None:
    unavailable = _Error(grpc.StatusCode.UNAVAILABLE)
    script = _Script(
        [_Stream([_snapshot()], unavailable)] + [_Stream([], unavailable)] * 50, ready=False
    )
    with pytest.raises(WatchGaveUpError) as gave_up:
        script.watch(retry_for=5.0).run()
    assert gave_up.value.last == 9
    assert script.now <= 5.0 + 2.0  # one last backoff at most past the limit
    assert len(script.asked) < 10


def test_errors_before_any_answer_and_refusals_are_not_retried() -> None:
    script = _Script([_Stream([], _Error(grpc.StatusCode.UNAVAILABLE))])
    with pytest.raises(grpc.RpcError):
        script.watch().run()
    script = _Script([_Stream([_snapshot()], _Error(grpc.StatusCode.NOT_FOUND))])
    with pytest.raises(grpc.RpcError):
        script.watch().run()
    assert script.asked == [None]
