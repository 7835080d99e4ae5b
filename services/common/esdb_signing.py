"""Verifying a recorded integration event's signature as esdbclient hands it over."""

from __future__ import annotations

from esdbclient import RecordedEvent

from services.common.integration_signing import IntegrationKeys, SignatureError, signed_bytes
from services.common.logs import get_logger

__all__ = ["verify_recorded"]

_log = get_logger(__name__)


def verify_recorded(keys: IntegrationKeys, recorded: RecordedEvent) -> None:
    """SignatureError unless our publisher wrote ``recorded`` where it is (or signing is off);
    a refusal is logged with its reason (the caller parks the event)."""
    try:
        signed = signed_bytes(
            stream=recorded.stream_name,
            revision=recorded.stream_position,
            event_type=recorded.type,
            event_id=recorded.id,
            data=recorded.data,
        )
        keys.verify(signed, recorded.metadata)
    except SignatureError as error:
        _log.warning(
            "untrusted integration event",
            stream=recorded.stream_name,
            revision=recorded.stream_position,
            event_id=str(recorded.id),
            reason=str(error),
        )
        raise
