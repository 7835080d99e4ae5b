"""Envelopes map to the public IntegrationEvent and back without loss."""

from __future__ import annotations

import dataclasses
import typing
import uuid
from datetime import UTC, datetime

import pytest

from domain.events import (
    GridCreated,
    GridEvent,
    RoverBlocked,
    RoverCreated,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
)
from domain.state import rover_after
from domain.values import BlockedBy, Direction, GridId, Position, RoverId, Topology
from protos.rover.v1 import common_pb2
from services.common.envelope import Envelope, integration_event_id
from services.common.integration import (
    ROVER_AFTER_FIELDS,
    IntegrationDecodeError,
    decode_integration_event,
    from_proto,
    integration_event_type,
    rover_to_proto,
    to_proto,
)
from tests.support.events import EVENT_TYPES, sample

G = GridId("g1")
R = RoverId("r1")
SAMPLES: list[GridEvent] = [
    GridCreated(
        grid_id=G,
        width=5,
        height=7,
        topology=Topology.TOROIDAL,
        obstacles=frozenset({Position(1, 2), Position(0, 0)}),
    ),
    RoverCreated(grid_id=G, rover_id=R, position=Position(3, 4), facing=Direction.W),
    RoverMovedForward(
        grid_id=G,
        rover_id=R,
        from_position=Position(3, 4),
        to_position=Position(2, 4),
        facing=Direction.W,
    ),
    RoverMovedBackward(
        grid_id=G,
        rover_id=R,
        from_position=Position(2, 4),
        to_position=Position(3, 4),
        facing=Direction.W,
    ),
    RoverTurnedLeft(
        grid_id=G,
        rover_id=R,
        position=Position(3, 4),
        from_facing=Direction.W,
        to_facing=Direction.S,
    ),
    RoverTurnedRight(
        grid_id=G,
        rover_id=R,
        position=Position(3, 4),
        from_facing=Direction.S,
        to_facing=Direction.W,
    ),
    RoverBlocked(
        grid_id=G,
        rover_id=R,
        position=Position(3, 4),
        facing=Direction.N,
        target=Position(3, 5),
        blocked_by=BlockedBy.ROVER,
        blocking_rover_id=RoverId("r2"),
        unexecuted_commands="FFL",
    ),
    RoverBlocked(
        grid_id=G,
        rover_id=R,
        position=Position(3, 6),
        facing=Direction.N,
        target=Position(3, 7),
        blocked_by=BlockedBy.EDGE,
        unexecuted_commands="F",
    ),
]


def test_samples_cover_every_event_type() -> None:
    assert {type(e) for e in SAMPLES} == set(typing.get_args(GridEvent))


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_envelope_round_trips_through_bytes(event: GridEvent) -> None:
    envelope = Envelope(
        event_id=integration_event_id(uuid.uuid4()),
        grid_id=G,
        sequence=42,
        occurred_at=datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=UTC),
        event=event,
    )
    data = to_proto(envelope).SerializeToString()
    assert decode_integration_event(data) == envelope
    assert integration_event_type(event) == f"rover.v1.{type(event).__name__}"


def test_integration_event_ids_are_deterministic() -> None:
    source = uuid.uuid4()
    assert integration_event_id(source) == integration_event_id(str(source))
    assert integration_event_id(source) != integration_event_id(uuid.uuid4())


def test_malformed_bytes_and_payloadless_events_are_rejected() -> None:
    with pytest.raises(IntegrationDecodeError):
        decode_integration_event(b"\xff\xff\xff")
    envelope = Envelope(
        event_id=uuid.uuid4(),
        grid_id=G,
        sequence=1,
        occurred_at=datetime.now(UTC),
        event=SAMPLES[0],
    )
    message = to_proto(envelope)
    message.ClearField("grid_created")
    with pytest.raises(IntegrationDecodeError, match="no payload"):
        from_proto(message)
    message = to_proto(envelope)
    message.grid_id = "not a valid id!"
    with pytest.raises(IntegrationDecodeError, match="malformed"):
        from_proto(message)


def _envelope(event: GridEvent) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        grid_id=event.grid_id,
        sequence=3,
        occurred_at=datetime(2026, 11, 26, tzinfo=UTC),
        event=event,
    )


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_the_wire_table_of_the_rover_after_an_event_equals_rover_after(
    event_type: type[GridEvent],
) -> None:
    event = sample(event_type)
    message = to_proto(_envelope(event))
    kind = message.WhichOneof("payload")
    assert kind is not None
    if isinstance(event, GridCreated):
        assert kind not in ROVER_AFTER_FIELDS
        return
    position, facing = ROVER_AFTER_FIELDS[kind]
    payload = getattr(message, kind)
    read = common_pb2.Rover(
        rover_id=payload.rover_id,
        position=getattr(payload, position),
        facing=getattr(payload, facing),
    )
    assert read == rover_to_proto(rover_after(event))


def test_the_wire_table_names_exactly_the_rover_payloads() -> None:
    kinds = {to_proto(_envelope(sample(t))).WhichOneof("payload") for t in EVENT_TYPES}
    assert set(ROVER_AFTER_FIELDS) == kinds - {"grid_created"}


def test_an_event_the_mapping_does_not_know_is_refused_not_sent_without_payload() -> None:
    """A new event type fails mypy here (assert_never); at run time it never goes out empty."""
    stranger = typing.cast(GridEvent, object())
    with pytest.raises(AssertionError):
        to_proto(dataclasses.replace(_envelope(SAMPLES[0]), event=stranger))
