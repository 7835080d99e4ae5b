"""Why an event exists, in EventStoreDB's own metadata keys: correlation, causation, trace.

Every stored event's JSON metadata carries ``$correlationId`` (the conversation: the id of the
request that started it) and ``$causationId`` (the message that caused this event: the command
for a domain event, the domain event for an integration event), the names EventStoreDB's
system projections (``$by_correlation_id``) and its clients use. When the event was appended
inside a sampled trace, ``$traceId`` and ``$spanId`` name that span as KurrentDB's client
instrumentation writes them (32 and 16 lowercase hex digits), so a consumer instrumented with
KurrentDB's OpenTelemetry packages, in any language, continues our trace.

Pure (standard library): application code carries these values; adapters write and read them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CAUSATION_ID",
    "CORRELATION_ID",
    "SPAN_ID",
    "TRACE_ID",
    "TraceParent",
    "read_trace",
    "write_correlation",
]

CORRELATION_ID = "$correlationId"
CAUSATION_ID = "$causationId"
TRACE_ID = "$traceId"
SPAN_ID = "$spanId"

_TRACE_HEX = re.compile(r"[0-9a-f]{32}")
_SPAN_HEX = re.compile(r"[0-9a-f]{16}")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A span to continue: the W3C trace id (32 hex digits) and span id (16 hex digits)."""

    trace_id: str
    span_id: str

    @classmethod
    def parse(cls, trace_id: object, span_id: object) -> TraceParent | None:
        """The ids as stored, or None unless both are valid (lowercase hex, not all zero)."""
        if not isinstance(trace_id, str) or not isinstance(span_id, str):
            return None
        trace_id, span_id = trace_id.lower(), span_id.lower()
        if not (_TRACE_HEX.fullmatch(trace_id) and _SPAN_HEX.fullmatch(span_id)):
            return None
        if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
            return None
        return cls(trace_id, span_id)


def write_correlation(
    body: MutableMapping[str, Any],
    *,
    correlation_id: str,
    causation_id: str,
    trace: TraceParent | None,
) -> MutableMapping[str, Any]:
    """Add the correlation keys to a metadata ``body`` (the trace ones only when traced)."""
    body[CORRELATION_ID] = correlation_id
    body[CAUSATION_ID] = causation_id
    if trace is not None:
        body[TRACE_ID] = trace.trace_id
        body[SPAN_ID] = trace.span_id
    return body


def read_trace(body: Mapping[str, Any]) -> TraceParent | None:
    """The span a metadata ``body`` names, if any (events stored untraced have none)."""
    return TraceParent.parse(body.get(TRACE_ID), body.get(SPAN_ID))
