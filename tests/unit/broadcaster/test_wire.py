"""The GridUpdate bytes assembled around stored events equal protobuf's own serialization."""

from __future__ import annotations

import dataclasses

import pytest

from domain.events import GridCreated, RoverBlocked, RoverCreated
from domain.values import GridId
from protos.rover.v1 import events_pb2, live_pb2
from services.broadcaster.adapters.wire import StoredEvent, encode_change
from services.broadcaster.grpc import mapping
from services.common.envelope import Envelope
from services.common.integration import IntegrationDecodeError, to_proto
from tests.unit.broadcaster.scripts import GridScript


def _history() -> list[Envelope]:
    script = GridScript("wire", rovers=3, seed=7)
    for _ in range(60):
        script.next()
    script.bump()  # the bumper lands
    script.bump()  # a ~1 KB RoverBlocked: a two-byte length prefix
    return script.history


def _serialized(envelope: Envelope) -> bytes:
    """What protobuf itself makes of the same GridUpdate."""
    change = live_pb2.GridChange(event=to_proto(envelope))
    rover = mapping.rover_after(envelope.event)
    if rover is not None:
        change.rover.CopyFrom(rover)
    return live_pb2.GridUpdate(sequence=envelope.sequence, event=change).SerializeToString()


def test_every_kind_of_event_is_covered() -> None:
    kinds = {type(e.event) for e in _history()}
    assert {GridCreated, RoverCreated, RoverBlocked} <= kinds
    assert len(kinds) >= 6


@pytest.mark.parametrize("shift", [0, 100, 20_000, 2**40])
def test_assembled_bytes_equal_serialize_to_string(shift: int) -> None:
    for original in _history():
        envelope = dataclasses.replace(original, sequence=original.sequence + shift)
        stored = StoredEvent.of(envelope)
        assembled = encode_change(stored)
        assert assembled == _serialized(envelope)
        assert assembled == mapping.encode_change(envelope)
        parsed = live_pb2.GridUpdate.FromString(assembled)
        assert parsed.sequence == envelope.sequence
        assert parsed.event.event.SerializeToString() == stored.data


def test_a_stored_event_reads_its_grid_and_sequence_and_decodes_on_demand() -> None:
    for envelope in _history():
        stored = StoredEvent.of(envelope)
        assert stored.grid_id == envelope.grid_id
        assert stored.sequence == envelope.sequence
        assert stored.envelope() == envelope
        assert stored.envelope() is stored.envelope()


class _Decoded:
    """A feed event that is not a StoredEvent: the encoder falls back to its envelope."""

    def __init__(self, envelope: Envelope) -> None:
        self._envelope = envelope
        self.grid_id: GridId = envelope.grid_id
        self.sequence = envelope.sequence

    def envelope(self) -> Envelope:
        return self._envelope


def test_other_feed_events_are_encoded_from_their_envelope() -> None:
    for envelope in _history()[:10]:
        assert encode_change(_Decoded(envelope)) == _serialized(envelope)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff",  # not protobuf
        events_pb2.IntegrationEvent(event_id="x", grid_id="g", sequence=1).SerializeToString(),
        events_pb2.IntegrationEvent(
            event_id="x", sequence=1, rover_created=events_pb2.RoverCreated(rover_id="r")
        ).SerializeToString(),
    ],
    ids=["garbage", "no-payload", "no-grid-id"],
)
def test_malformed_stored_events_are_refused(data: bytes) -> None:
    with pytest.raises(IntegrationDecodeError):
        StoredEvent(data)
