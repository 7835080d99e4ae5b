"""Idempotency by time: the durable request log behind the in-memory request window.

The window (repository.RequestWindow) holds a grid's last ``limit`` requests: the fast path.
Behind it the publisher, which reads every domain event in order, writes one small record per
request (``RequestLog.record``) *before* it publishes the request's events, kept by the store
for the retention period. A request id the window no longer holds is looked up there
(``RequestLookup.find``): one read, usually answered "not found".

The gap: a request the window forgot is in the log once the publisher has published past it.
The lookup checks that (the grid's published sequence reaches the window's oldest request),
and when it does not, waits for it up to a second, then answers that it cannot tell yet
(StoreUnavailableError: UNAVAILABLE, retry), rather than apply a retry twice. That happens
only while the publisher lags the grid by more than the window's requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from services.command.application.errors import StoreUnavailableError
from services.command.application.ports import Clock, RequestRecord, StoredEvent
from services.command.application.repository import RequestWindow
from services.common.logs import get_logger

__all__ = ["LoggedRequest", "RequestLog", "RequestLookup", "joined", "requests_of"]

_log = get_logger(__name__)
_MAX_GRIDS = 10_000  # grids whose published sequence is remembered; beyond: read again
_PUBLICATION_CHECKS = 20  # looks at a lagging publisher ...
_PUBLICATION_PAUSE = 0.05  # ... this many seconds apart, before answering "retry"


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """A request as the log keeps it: its record and when its first event occurred."""

    record: RequestRecord
    occurred_at: datetime


class RequestLog(Protocol):
    """The requests applied to each grid, kept for a retention period (a port)."""

    async def record(self, grid_id: str, requests: Sequence[LoggedRequest]) -> None:
        """Keep ``requests`` of the grid (writing one twice is harmless)."""
        ...

    async def find(self, grid_id: str, request_id: str) -> LoggedRequest | None:
        """The logged request; None when not logged (or expired and removed by the store).
        StoreUnavailableError when the store cannot be reached."""
        ...

    async def published(self, grid_id: str) -> int:
        """The grid's last published sequence: every request up to it is logged."""
        ...


def requests_of(run: Sequence[StoredEvent]) -> list[LoggedRequest]:
    """The requests a run of one grid's events applied (consecutive events of one request
    form one record, as the window groups them)."""
    window = RequestWindow(len(run))
    started: dict[str, datetime] = {}
    for event in run:
        window.observe(event.version, event.metadata)
        if event.metadata.request_id:
            started.setdefault(event.metadata.request_id, event.metadata.occurred_at)
    return [LoggedRequest(r, started[r.request_id]) for r in window.records()]


def joined(parts: Sequence[LoggedRequest]) -> LoggedRequest | None:
    """One request from its records: a request whose events were published in two batches
    has two, each with part of its version range."""
    if not parts:
        return None
    first = min(parts, key=lambda p: p.record.first_version)
    last = max(p.record.last_version for p in parts)
    return LoggedRequest(replace(first.record, last_version=last), first.occurred_at)


class RequestLookup:
    """Finds a request the window forgot, in the log, within the retention period."""

    def __init__(self, log: RequestLog, clock: Clock, retention: timedelta) -> None:
        self._log = log
        self._clock = clock
        self.retention = retention
        self._published: dict[str, int] = {}  # grid -> a published sequence seen (only grows)
        self.lookups = 0  # requests looked up in the log (the window did not hold them)
        self.found = 0  # ... and found there, within the retention period

    async def find(
        self, grid_id: str, request_id: str, window: RequestWindow
    ) -> RequestRecord | None:
        """The record of ``request_id`` if the grid applied it within the retention period;
        None when it did not. StoreUnavailableError when the log cannot tell yet."""
        self.lookups += 1
        await self._logged_through(grid_id, window)
        logged = await self._log.find(grid_id, request_id)  # read after the check vouched
        if logged is None:
            return None
        if logged.occurred_at < self._clock.now() - self.retention:
            _log.info("request id expired; applied as new", grid_id=grid_id)
            return None
        self.found += 1
        return logged.record

    async def _logged_through(self, grid_id: str, window: RequestWindow) -> None:
        """Return once every request older than the window's is known to be logged (a
        published sequence seen before, or read now); StoreUnavailableError if not yet."""
        oldest = window.oldest
        needed = oldest.first_version - 1 if oldest is not None else 0
        published = self._published.get(grid_id, 0)
        for attempt in range(_PUBLICATION_CHECKS):
            if published >= needed:
                return
            if attempt:
                await asyncio.sleep(_PUBLICATION_PAUSE)
            published = await self._log.published(grid_id)
            if len(self._published) >= _MAX_GRIDS:
                self._published.clear()
            self._published[grid_id] = published
        if published < needed:
            raise StoreUnavailableError(
                f"cannot tell yet whether this request_id was applied to grid {grid_id!r}: "
                f"publication is behind (published up to version {published}, needs "
                f"{needed}); retry shortly"
            )
