"""The fast projection (IntegrationEvent message -> HashUpdate) equals the plain one."""

from __future__ import annotations

import typing
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from esdbclient import RecordedEvent
from hypothesis import given
from hypothesis import strategies as st

from domain.events import (
    GridCreated,
    GridEvent,
    RoverBlocked,
    RoverCreated,
    RoverEvent,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
)
from domain.values import BlockedBy, Direction, GridId, Position, RoverId, Topology
from protos.rover.v1 import events_pb2
from services.common.envelope import Envelope
from services.common.integration import IntegrationDecodeError, from_proto, to_proto
from services.common.integration_signing import IntegrationKeys
from services.query.adapters.esdb_feed import EsdbEventFeed, _item
from services.query.adapters.fast_projection import fast_update
from services.query.adapters.memory import InMemoryReadModel
from services.query.application.projection import project
from services.query.bootstrap import build
from services.query.settings import QuerySettings
from tests.support.events import EVENT_TYPES, sample

G, R = GridId("g-1"), RoverId("r_1")
P, Q = Position(3, -4), Position(2, 4)
FAST: list[GridEvent] = [
    RoverCreated(grid_id=G, rover_id=R, position=P, facing=Direction.W),
    RoverMovedForward(grid_id=G, rover_id=R, from_position=P, to_position=Q, facing=Direction.E),
    RoverMovedBackward(grid_id=G, rover_id=R, from_position=Q, to_position=P, facing=Direction.S),
    RoverTurnedLeft(
        grid_id=G, rover_id=R, position=P, from_facing=Direction.W, to_facing=Direction.S
    ),
    RoverTurnedRight(
        grid_id=G, rover_id=R, position=Q, from_facing=Direction.N, to_facing=Direction.E
    ),
]
SLOW: list[GridEvent] = [
    GridCreated(
        grid_id=G,
        width=5,
        height=7,
        topology=Topology.TOROIDAL,
        obstacles=frozenset({Position(1, 2), Position(0, 0)}),
    ),
    RoverBlocked(
        grid_id=G,
        rover_id=R,
        position=P,
        facing=Direction.N,
        target=Q,
        blocked_by=BlockedBy.ROVER,
        blocking_rover_id=RoverId("r2"),
        unexecuted_commands="FFL",
    ),
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _message(event: GridEvent, sequence: int = 7, at: datetime | None = None) -> bytes:
    envelope = Envelope(
        event_id=uuid.uuid4(),
        grid_id=event.grid_id,
        sequence=sequence,
        occurred_at=at or datetime(2026, 11, 26, 16, 0, 1, 234567, tzinfo=UTC),
        event=event,
    )
    return to_proto(envelope).SerializeToString()


def _both(data: bytes) -> tuple[object, object]:
    message = events_pb2.IntegrationEvent.FromString(data)
    return fast_update(message), project(from_proto(message))


# The kinds the fast path takes; any other gets None and is decoded the full way.
FAST_TYPES = set(typing.get_args(RoverEvent)) - {RoverBlocked}


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_type_is_projected_fast_or_left_to_the_plain_path(
    event_type: type[GridEvent],
) -> None:
    fast, full = _both(_message(sample(event_type)))
    if event_type in FAST_TYPES:
        assert fast == full
    else:
        assert fast is None


@pytest.mark.parametrize("event", FAST, ids=lambda e: type(e).__name__)
def test_fast_kinds_equal_the_projection(event: GridEvent) -> None:
    fast, full = _both(_message(event))
    assert fast is not None
    assert fast == full


@pytest.mark.parametrize("event", SLOW, ids=lambda e: type(e).__name__)
def test_other_kinds_take_the_full_path(event: GridEvent) -> None:
    assert fast_update(events_pb2.IntegrationEvent.FromString(_message(event))) is None


@given(
    index=st.integers(0, len(FAST) - 1),
    sequence=st.integers(1, 2**62),
    x=st.integers(-(2**31), 2**31 - 1),
    y=st.integers(-(2**31), 2**31 - 1),
    micros=st.integers(-(10**15), 10**16),
)
def test_equal_for_any_position_sequence_and_time(
    index: int, sequence: int, x: int, y: int, micros: int
) -> None:
    event = FAST[index]
    moved = type(event)(
        **{  # type: ignore[arg-type]
            k: (Position(x, y) if isinstance(v, Position) else v) for k, v in vars_of(event).items()
        }
    )
    fast, full = _both(_message(moved, sequence, EPOCH + timedelta(microseconds=micros)))
    assert fast is not None
    assert fast == full


def vars_of(event: GridEvent) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


@pytest.mark.parametrize(
    "spoil",
    [
        lambda m: setattr(m, "event_id", "not-a-uuid"),
        lambda m: setattr(m, "grid_id", "bad id!"),
        lambda m: setattr(m.rover_moved_forward, "rover_id", ""),
        lambda m: setattr(m.rover_moved_forward, "facing", 0),
    ],
)
def test_malformed_messages_take_the_full_path(spoil: object) -> None:
    """What the fast path refuses, the full decoder rejects (and reports)."""
    message = events_pb2.IntegrationEvent.FromString(_message(FAST[1]))
    spoil(message)  # type: ignore[operator]
    assert fast_update(message) is None
    with pytest.raises(IntegrationDecodeError):
        from_proto(message)


def _recorded(data: bytes) -> RecordedEvent:
    return RecordedEvent(
        type="rover.v1.RoverMovedForward",
        data=data,
        metadata=b"",
        content_type="application/octet-stream",
        id=uuid.uuid4(),
        stream_name="integration-g-1",
        stream_position=1,
        commit_position=99,
        prepare_position=99,
    )


def test_the_feed_takes_the_fast_path_only_when_switched_on() -> None:
    data = _message(FAST[1])
    envelope = from_proto(events_pb2.IntegrationEvent.FromString(data))
    fast = _item(_recorded(data), IntegrationKeys(), fast=True)
    assert fast.update == project(envelope)
    assert fast.envelope is None
    plain = _item(_recorded(data), IntegrationKeys(), fast=False)
    assert plain.update is None
    assert plain.envelope == envelope


@pytest.mark.parametrize("fast", [True, False])
def test_build_switches_the_fast_projection(fast: bool) -> None:
    app = build(QuerySettings(), read_model=InMemoryReadModel(), fast_projection=fast)
    assert isinstance(app.parts.feed, EsdbEventFeed)
    assert app.parts.feed.fast_projection is fast
