"""Parked-event streams stay out of every subscription of the system, and their records
round-trip through the JSON body the store keeps."""

from __future__ import annotations

import re

from services.broadcaster.adapters.esdb import INTEGRATION_STREAM_FILTER
from services.command.consumer_groups import INTEGRATION_STREAM_FILTER as GROUPS_FILTER
from services.common.envelope import grid_stream, integration_stream
from services.common.esdb_parked import decode_parked, encode_parked
from services.common.parked import (
    BROADCASTER,
    PROJECTOR,
    ParkedEvent,
    PoisonEvent,
    grid_of_stream,
    parked_id,
    parked_stream,
)
from services.query.adapters.esdb_feed import INTEGRATION_FILTER


def test_parked_streams_match_no_subscription_of_the_system() -> None:
    integration = [f"^({p})$" for p in (*INTEGRATION_FILTER, INTEGRATION_STREAM_FILTER)]
    for consumer in (PROJECTOR, BROADCASTER):
        stream = parked_stream(consumer)
        assert stream == f"rover-parked-{consumer}"
        for pattern in (*integration, GROUPS_FILTER):  # esdbclient anchors include patterns
            assert not re.match(pattern, stream)
        assert not stream.startswith(grid_stream(""))  # the publisher follows grid-*
        assert grid_of_stream(stream) == ""
        assert re.match(integration[0], integration_stream("g"))


def test_the_grid_of_an_integration_stream() -> None:
    assert grid_of_stream(integration_stream("mars-1")) == "mars-1"
    assert grid_of_stream(grid_stream("mars-1")) == ""


def test_a_record_round_trips_through_its_json_body() -> None:
    poison = PoisonEvent(
        stream="integration-g",
        revision=4,
        commit_position=99,
        event_id="e",
        event_type="RoverTurnedLeft.v1",
        grid_id="g",
        reason="bad",
    )
    record = ParkedEvent.of(PROJECTOR, poison, 123)
    assert record.parked_id == parked_id(PROJECTOR, "e")
    assert poison.sequence == 5
    assert decode_parked(encode_parked(record)) == record
