"""The event log as the subscription machinery sees it: ordered, append-only, observable.

This is the seam between the storage engine (``storage.py``) and the subscription machinery
(catch-up and persistent subscriptions). Both sides depend on these types only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["EventLog", "RecordedEvent"]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One committed event, exactly as stored."""

    position: int  # $all commit == prepare position: a log offset, increasing, with gaps
    stream: str
    revision: int  # 0-based event number within its stream
    event_id: str  # canonical lowercase UUID string
    type: str
    is_json: bool
    data: bytes
    metadata: bytes  # the user's custom metadata
    created: int  # 100 ns ticks since the Unix epoch


class EventLog(Protocol):
    """Read side of the store shared by every subscription kind.

    Reads are synchronous (SQLite on the event loop thread, small batches); waiting for new
    events is asynchronous and pushed on commit, never polled.
    """

    @property
    def head(self) -> int:
        """Position of the last committed event; 0 when the log is empty."""
        ...

    def read_all(self, after: int, limit: int) -> list[RecordedEvent]:
        """Events with position > ``after``, ascending, at most ``limit``."""
        ...

    def read_stream(self, stream: str, from_revision: int, limit: int) -> list[RecordedEvent]:
        """Visible events of ``stream`` with revision >= ``from_revision``, ascending.

        "Visible" as a stream read sees them: truncation (``$tb``), ``$maxCount`` and
        ``$maxAge`` from the stream's metadata applied; empty for a missing stream.
        """
        ...

    def last_revision(self, stream: str) -> int:
        """Last event number of ``stream``; -1 when it has no events."""
        ...

    def resolve_link(self, event: RecordedEvent) -> RecordedEvent | None:
        """The target of a ``$>`` link event (data ``"<revision>@<stream>"``); None if gone."""
        ...

    async def wait_beyond(self, position: int) -> None:
        """Return as soon as ``head > position`` (immediately if it already is)."""
        ...
