"""An in-memory ``EventLog`` for tests: append directly, from any thread."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from standins.eventstore.log import RecordedEvent

__all__ = ["FakeEventLog"]


class FakeEventLog:
    """Ordered, append-only, observable; positions start at 1 and increase by 1."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def head(self) -> int:
        return self.events[-1].position if self.events else 0

    def append(
        self,
        stream: str,
        type: str = "Happened",
        *,
        data: bytes = b"{}",
        metadata: bytes = b"",
        event_id: str | None = None,
    ) -> RecordedEvent:
        with self._lock:
            event = RecordedEvent(
                position=self.head + 1,
                stream=stream,
                revision=self.last_revision(stream) + 1,
                event_id=event_id or str(uuid.uuid4()),
                type=type,
                is_json=True,
                data=data,
                metadata=metadata,
                created=int(time.time() * 10_000_000),
            )
            self.events.append(event)
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)
        return event

    def link(self, stream: str, target: RecordedEvent) -> RecordedEvent:
        """Append a ``$>`` link to ``target``."""
        return self.append(stream, "$>", data=f"{target.revision}@{target.stream}".encode())

    def read_all(self, after: int, limit: int) -> list[RecordedEvent]:
        start = max(after, 0)  # position p sits at index p - 1
        return self.events[start : start + limit]

    def read_stream(self, stream: str, from_revision: int, limit: int) -> list[RecordedEvent]:
        found = [e for e in self.events if e.stream == stream and e.revision >= from_revision]
        return found[:limit]

    def last_revision(self, stream: str) -> int:
        return max((e.revision for e in self.events if e.stream == stream), default=-1)

    def resolve_link(self, event: RecordedEvent) -> RecordedEvent | None:
        revision, _, stream = event.data.decode().partition("@")
        found = self.read_stream(stream, int(revision), 1)
        return found[0] if found and found[0].revision == int(revision) else None

    async def wait_beyond(self, position: int) -> None:
        while self.head <= position:
            waiter = asyncio.get_running_loop().create_future()
            with self._lock:
                if self.head > position:
                    return
                self._waiters.append(waiter)
            await waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
