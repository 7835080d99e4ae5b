"""Reading the publisher's checkpoint record from EventStoreDB (its format:
publisher_checkpoint.py), for the command service's lease and the query service's status."""

from __future__ import annotations

from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound

from services.common.esdb_reads import whole_read
from services.common.publisher_checkpoint import PublisherCheckpoint, decode_checkpoint

__all__ = ["read_checkpoint"]


async def read_checkpoint(
    client: AsyncEventStoreDBClient, stream: str, deadline: float
) -> tuple[int, PublisherCheckpoint] | None:
    """The checkpoint stream's last event: its revision and what it says (None: no stream or
    an empty one). The store's errors pass through for the caller to translate."""
    try:
        found = await whole_read(
            client, lambda: client.get_stream(stream, backwards=True, limit=1, timeout=deadline)
        )
    except NotFound:
        return None
    if not found:
        return None
    return found[0].stream_position, decode_checkpoint(found[0].data)
