"""Both GridUpdate encoders (plain protobuf, fast assembly) give the reference bytes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from domain.events import GridCreated, GridEvent, RoverBlocked, RoverCreated
from domain.values import GridId
from protos.rover.v1 import events_pb2, live_pb2
from services.broadcaster import bootstrap as broadcaster_bootstrap
from services.broadcaster.adapters import fast_wire, wire
from services.broadcaster.adapters.memory import InMemoryIntegrationLog
from services.broadcaster.adapters.wire import StoredIntegrationEvent
from services.broadcaster.application.ports import FeedEvent
from services.broadcaster.settings import BroadcasterSettings
from services.common.envelope import Envelope
from services.common.integration import IntegrationDecodeError
from tests.support.events import EVENT_TYPES, sample
from tests.unit.broadcaster.oracle import grid_update
from tests.unit.broadcaster.scripts import GridScript

ENCODERS: dict[str, Callable[[FeedEvent], bytes]] = {
    "plain": wire.encode_change,
    "fast": fast_wire.encode_change,
}


def _history() -> list[Envelope]:
    script = GridScript("wire", rovers=3, seed=7)
    for _ in range(60):
        script.next()
    script.bump()  # the bumper lands
    script.bump()  # a ~1 KB RoverBlocked: a two-byte length prefix
    return script.history


def _envelope(event: GridEvent, sequence: int = 5) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        grid_id=event.grid_id,
        sequence=sequence,
        occurred_at=datetime(2026, 11, 26, 16, 0, tzinfo=UTC),
        event=event,
    )


@pytest.mark.parametrize("encoder", ENCODERS.values(), ids=ENCODERS.keys())
@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_type_is_encoded_as_the_reference(
    event_type: type[GridEvent], encoder: Callable[[FeedEvent], bytes]
) -> None:
    envelope = _envelope(sample(event_type))
    encoded = encoder(StoredIntegrationEvent.of(envelope))
    assert encoded == grid_update(envelope)
    change = live_pb2.GridUpdate.FromString(encoded).event
    assert change.HasField("rover") is (event_type is not GridCreated)


def test_the_script_lands_blocks_and_makes_a_long_block() -> None:
    kinds = {type(e.event) for e in _history()}
    assert {GridCreated, RoverCreated, RoverBlocked} <= kinds


@pytest.mark.parametrize("encoder", ENCODERS.values(), ids=ENCODERS.keys())
@pytest.mark.parametrize("shift", [0, 100, 20_000, 2**40])
def test_encoded_bytes_equal_the_reference(
    shift: int, encoder: Callable[[FeedEvent], bytes]
) -> None:
    for original in _history():
        envelope = dataclasses.replace(original, sequence=original.sequence + shift)
        stored = StoredIntegrationEvent.of(envelope)
        encoded = encoder(stored)
        assert encoded == grid_update(envelope)
        parsed = live_pb2.GridUpdate.FromString(encoded)
        assert parsed.sequence == envelope.sequence
        assert parsed.event.event.SerializeToString() == stored.data


@pytest.mark.parametrize("fast", [True, False])
async def test_bootstrap_picks_the_encoder(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_wire, "encode_change", lambda event: b"fast")
    monkeypatch.setattr(wire, "encode_change", lambda event: b"plain")
    log = InMemoryIntegrationLog()
    app = broadcaster_bootstrap.build(
        BroadcasterSettings(), feed=log, history=log, fast_wire_assembly=fast
    )
    stored = StoredIntegrationEvent.of(_envelope(sample(GridCreated)))
    assert app.parts.hub.wrap(stored).payload == (b"fast" if fast else b"plain")


def test_a_stored_event_reads_its_grid_and_sequence_and_decodes_on_demand() -> None:
    for envelope in _history():
        stored = StoredIntegrationEvent.of(envelope)
        assert stored.grid_id == envelope.grid_id
        assert stored.sequence == envelope.sequence
        assert stored.envelope() == envelope
        assert stored.envelope() is stored.envelope()


class _Decoded:
    """A feed event that is not a StoredIntegrationEvent: the encoder falls back to its envelope."""

    def __init__(self, envelope: Envelope) -> None:
        self._envelope = envelope
        self.grid_id: GridId = envelope.grid_id
        self.sequence = envelope.sequence

    def envelope(self) -> Envelope:
        return self._envelope


@pytest.mark.parametrize("encoder", ENCODERS.values(), ids=ENCODERS.keys())
def test_other_feed_events_are_encoded_from_their_envelope(
    encoder: Callable[[FeedEvent], bytes],
) -> None:
    for envelope in _history()[:10]:
        assert encoder(_Decoded(envelope)) == grid_update(envelope)


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
        StoredIntegrationEvent(data)
