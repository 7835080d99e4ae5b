"""EventStoreDB's $all positions: log offsets with gaps, and no reading from inside a record."""

from __future__ import annotations

import pytest
from esdbclient import EventStoreDBClient, StreamState
from esdbclient.exceptions import GrpcError, UnknownError

from tests.integration.eventstore.helpers import events

pytestmark = pytest.mark.slow
SAFETY = 10.0


def test_positions_leave_gaps_and_an_append_answers_its_last_event(
    client: EventStoreDBClient, stream_name: str
) -> None:
    first = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A", "B")
    )
    second = client.append_to_stream(stream_name, current_version=1, events=events("C"))
    recorded = client.get_stream(stream_name)
    commits = [e.commit_position or 0 for e in recorded]
    assert [e.prepare_position for e in recorded] == commits  # one committed prepare each
    assert (commits[1], commits[2]) == (first, second)
    assert commits[0] + 1 < commits[1]  # a record's size apart, within an append
    assert commits[1] + 1 < commits[2]  # and between appends


def test_read_all_from_inside_a_record_fails(client: EventStoreDBClient, stream_name: str) -> None:
    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A")
    )
    assert [e.type for e in client.read_all(commit_position=position, limit=1)] == ["A"]
    with pytest.raises(UnknownError):
        list(client.read_all(commit_position=position + 1, limit=1))
    with pytest.raises(UnknownError):
        list(client.read_all(commit_position=position + 1, filter_include=[stream_name]))


def test_subscribing_to_all_from_inside_a_record_fails(
    client: EventStoreDBClient, stream_name: str
) -> None:
    position = client.append_to_stream(
        stream_name, current_version=StreamState.NO_STREAM, events=events("A")
    )
    with (
        pytest.raises(GrpcError, match="invalid position"),
        client.subscribe_to_all(commit_position=position + 1, timeout=SAFETY) as subscription,
    ):
        next(iter(subscription))
