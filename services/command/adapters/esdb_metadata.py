"""The JSON metadata stored beside every domain event: why and when it was recorded.

``{occurred_at, command, request_id, fingerprint, $correlationId, $causationId}`` plus
``$traceId``/``$spanId`` when the append was traced (services/common/correlation.py).
"""

from __future__ import annotations

import json
from datetime import datetime

from services.command.application.ports import EventMetadata
from services.common.correlation import CAUSATION_ID, CORRELATION_ID, read_trace, write_correlation

__all__ = ["decode_metadata", "encode_metadata"]


def encode_metadata(metadata: EventMetadata) -> bytes:
    """The JSON metadata stored beside every domain event."""
    body = {
        "occurred_at": metadata.occurred_at.isoformat(),
        "command": metadata.command,
        "request_id": metadata.request_id,
        "fingerprint": metadata.fingerprint,
    }
    write_correlation(
        body,
        correlation_id=metadata.correlation_id,
        causation_id=metadata.causation_id,
        trace=metadata.trace,
    )
    return json.dumps(body, separators=(",", ":")).encode()


def decode_metadata(data: bytes) -> EventMetadata:
    """Parse ``encode_metadata``'s bytes (missing keys tolerated: events written by others)."""
    body = json.loads(data) if data else {}
    return EventMetadata(
        occurred_at=datetime.fromisoformat(body["occurred_at"]),
        command=str(body.get("command", "")),
        request_id=str(body.get("request_id", "")),
        fingerprint=str(body.get("fingerprint", "")),
        correlation_id=str(body.get(CORRELATION_ID, "")),
        causation_id=str(body.get(CAUSATION_ID, "")),
        trace=read_trace(body),
    )
