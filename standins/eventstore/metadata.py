"""Stream metadata as the server reads it, the deletion markers, and ESDB's time ticks."""

from __future__ import annotations

import json
import time
from typing import Any

__all__ = [
    "DELETED_REVISION",
    "SOFT_DELETED_TB",
    "StreamMeta",
    "is_metastream",
    "metastream_of",
    "now_ticks",
]

DELETED_REVISION = (1 << 63) - 1  # revision of the `$streamDeleted` tombstone record
SOFT_DELETED_TB = (1 << 63) - 1  # `$tb` value that marks a stream soft-deleted


def now_ticks() -> int:
    """The current time in 100 ns ticks since the Unix epoch (ESDB's ``created``)."""
    return time.time_ns() // 100


def metastream_of(stream: str) -> str:
    """The metadata stream of ``stream``."""
    return "$$" + stream


def is_metastream(stream: str) -> bool:
    """Whether ``stream`` is a ``$$`` metadata stream."""
    return stream.startswith("$$")


class StreamMeta:
    """The server-interpreted part of a stream's metadata (``$tb``, ``$maxCount``, ``$maxAge``)."""

    __slots__ = ("max_age", "max_count", "raw", "tb")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.tb = _int_or_none(raw.get("$tb")) or 0
        self.max_count = _int_or_none(raw.get("$maxCount"))
        self.max_age = _int_or_none(raw.get("$maxAge"))

    @property
    def soft_deleted(self) -> bool:
        """Whether the stream is soft-deleted (``$tb`` at its maximum)."""
        return self.tb == SOFT_DELETED_TB

    @classmethod
    def parse(cls, data: bytes | None) -> StreamMeta:
        """Metadata from a ``$metadata`` event's data; empty when absent or not a JSON object."""
        if not data:
            return cls({})
        try:
            value = json.loads(data)
        except ValueError:
            return cls({})
        return cls(value if isinstance(value, dict) else {})


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
