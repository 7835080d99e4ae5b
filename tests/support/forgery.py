"""Forged integration events: appended straight to a grid's stream, as an attacker with
write access to the store would, not through our publisher."""

from __future__ import annotations

from esdbclient import AsyncEventStoreDBClient, NewEvent

from services.common.envelope import Envelope, integration_stream
from services.common.integration import integration_event_type, to_proto

__all__ = ["forge"]


async def forge(
    client: AsyncEventStoreDBClient, envelope: Envelope, metadata: bytes = b"{}"
) -> None:
    """Append ``envelope`` at its sequence's revision with ``metadata`` (no signature)."""
    await client.append_to_stream(
        integration_stream(envelope.grid_id),
        current_version=envelope.sequence - 2,
        events=NewEvent(
            type=integration_event_type(envelope.event),
            data=to_proto(envelope).SerializeToString(),
            metadata=metadata,
            content_type="application/octet-stream",
            id=envelope.event_id,
        ),
    )
