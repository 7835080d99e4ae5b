"""The JSON metadata of a domain event: what the command service writes and reads back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.command.adapters.esdb_metadata import decode_metadata, encode_metadata
from services.command.application.ports import EventMetadata
from services.common.correlation import TraceParent

WHEN = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_correlation_causation_and_trace_round_trip_under_eventstoredb_names() -> None:
    trace = TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    metadata = EventMetadata(
        occurred_at=WHEN,
        command="TurnRoverLeft",
        request_id="r-1",
        fingerprint="abc",
        correlation_id="r-1",
        causation_id="r-1",
        trace=trace,
    )
    stored = json.loads(encode_metadata(metadata))
    assert stored == {
        "occurred_at": WHEN.isoformat(),
        "command": "TurnRoverLeft",
        "request_id": "r-1",
        "fingerprint": "abc",
        "$correlationId": "r-1",
        "$causationId": "r-1",
        "$traceId": trace.trace_id,
        "$spanId": trace.span_id,
    }
    assert decode_metadata(encode_metadata(metadata)) == metadata


def test_untraced_metadata_has_no_trace_keys() -> None:
    metadata = EventMetadata(occurred_at=WHEN, command="CreateGrid", correlation_id="x")
    stored = json.loads(encode_metadata(metadata))
    assert "$traceId" not in stored
    assert "$spanId" not in stored
    assert decode_metadata(encode_metadata(metadata)).trace is None


def test_metadata_stored_before_correlation_existed_still_reads() -> None:
    old = json.dumps({"occurred_at": WHEN.isoformat(), "command": "CreateGrid"}).encode()
    assert decode_metadata(old) == EventMetadata(occurred_at=WHEN, command="CreateGrid")
