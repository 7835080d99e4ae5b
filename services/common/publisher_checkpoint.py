"""The publisher's checkpoint record: one place for its format, written by the command
service's publisher (``EsdbCheckpointStore``) and read by the query service's admin status.

Each event of the checkpoint stream (``rover-publisher`` by default; ``$maxCount`` 1) is a
``PublisherCheckpoint`` with a JSON body: the commit position published up to (null before
the first save), the instance holding the publisher's lease ("" once released) and that
lease's ttl in milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = [
    "CHECKPOINT_EVENT_TYPE",
    "DEFAULT_CHECKPOINT_STREAM",
    "CheckpointUnreadableError",
    "PublisherCheckpoint",
    "decode_checkpoint",
    "encode_checkpoint",
]

DEFAULT_CHECKPOINT_STREAM = "rover-publisher"
CHECKPOINT_EVENT_TYPE = "PublisherCheckpoint"


@dataclass(frozen=True, slots=True)
class PublisherCheckpoint:
    """What one checkpoint event says."""

    position: int | None
    holder: str
    ttl_ms: int | None


def encode_checkpoint(position: int | None, holder: str, ttl_ms: int) -> bytes:
    """The JSON body of a checkpoint event."""
    body = {"commit_position": position, "holder": holder, "ttl_ms": ttl_ms}
    return json.dumps(body).encode()


class CheckpointUnreadableError(ValueError):
    """A checkpoint event whose body is not a checkpoint (not JSON, not an object, fields of
    the wrong kind): someone else wrote it."""


def decode_checkpoint(data: bytes) -> PublisherCheckpoint:
    """A checkpoint event's body (fields absent in older records read as None / "");
    CheckpointUnreadableError when it is not one."""
    try:
        body = json.loads(data)
        position = body.get("commit_position")
        ttl_ms = body.get("ttl_ms")
        return PublisherCheckpoint(
            position=None if position is None else int(position),
            holder=str(body.get("holder", "")),
            ttl_ms=None if ttl_ms is None else int(ttl_ms),
        )
    except (ValueError, TypeError, AttributeError) as error:
        raise CheckpointUnreadableError(f"not a publisher checkpoint: {error!r}") from None
