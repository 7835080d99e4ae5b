"""The request log lookup behind the window: retention, and the publication gap."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from domain.events import RoverTurnedLeft
from domain.values import Direction, GridId, Position, RoverId
from services.command.application.errors import StoreUnavailableError
from services.command.application.ports import EventMetadata, RequestRecord, StoredEvent
from services.command.application.repository import RequestWindow
from services.command.application.request_log import LoggedRequest, RequestLookup, requests_of

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(hours=24)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class FakeLog:
    """The RequestLog port in a dictionary; ``published`` is what the publisher reached."""

    def __init__(self, published: int = 0) -> None:
        self.logged: dict[str, LoggedRequest] = {}
        self.published_sequence = published
        self.reads = 0

    async def record(self, grid_id: str, requests: Sequence[LoggedRequest]) -> None:
        for logged in requests:
            self.logged[logged.record.request_id] = logged

    async def find(self, grid_id: str, request_id: str) -> LoggedRequest | None:
        return self.logged.get(request_id)

    async def published(self, grid_id: str) -> int:
        self.reads += 1
        return self.published_sequence


def window_from(first_version: int, size: int = 3) -> RequestWindow:
    records = [
        RequestRecord(f"recent-{n}", "TurnRoverLeft", "f", version, version)
        for n, version in enumerate(range(first_version, first_version + size))
    ]
    return RequestWindow(size, records)


def event(version: int, request_id: str, at: datetime) -> StoredEvent:
    turned = RoverTurnedLeft(
        grid_id=GridId("g"),
        rover_id=RoverId("r"),
        position=Position(0, 0),
        from_facing=Direction.N,
        to_facing=Direction.W,
    )
    metadata = EventMetadata(
        occurred_at=at, command="TurnRoverLeft", request_id=request_id, fingerprint="f"
    )
    return StoredEvent(
        event_id=uuid.uuid4(), grid_id="g", version=version, event=turned, metadata=metadata
    )


def test_a_run_is_grouped_into_one_record_per_request() -> None:
    later = NOW + timedelta(seconds=1)
    run = [event(5, "a", NOW), event(6, "a", later), event(7, "", NOW), event(8, "b", later)]
    assert requests_of(run) == [
        LoggedRequest(RequestRecord("a", "TurnRoverLeft", "f", 5, 6), NOW),
        LoggedRequest(RequestRecord("b", "TurnRoverLeft", "f", 8, 8), later),
    ]


async def test_a_logged_request_is_found_within_the_retention_period() -> None:
    log, clock = FakeLog(published=100), FixedClock(NOW)
    old = LoggedRequest(RequestRecord("old", "TurnRoverLeft", "f", 3, 3), NOW)
    await log.record("g", [old])
    lookup = RequestLookup(log, clock, DAY)
    clock.current = NOW + DAY - timedelta(seconds=1)
    assert await lookup.find("g", "old", window_from(50)) == old.record
    clock.current = NOW + DAY + timedelta(seconds=1)
    assert await lookup.find("g", "old", window_from(50)) is None  # expired: new again
    assert await lookup.find("g", "never", window_from(50)) is None
    assert (lookup.lookups, lookup.found) == (3, 1)


async def test_a_lagging_publisher_is_unavailable_rather_than_a_double_apply() -> None:
    log = FakeLog(published=10)  # requests before version 49 may not be logged yet
    lookup = RequestLookup(log, FixedClock(NOW), DAY)
    with pytest.raises(StoreUnavailableError, match="publication is behind"):
        await lookup.find("g", "unknown", window_from(50))
    log.published_sequence = 49
    assert await lookup.find("g", "unknown", window_from(50)) is None


async def test_a_published_sequence_seen_is_not_read_again_while_it_covers() -> None:
    log = FakeLog(published=60)
    lookup = RequestLookup(log, FixedClock(NOW), DAY)
    for first in (50, 55, 61):
        await lookup.find("g", "unknown", window_from(first))
    assert log.reads == 1  # 60 covers windows from 50 and 55 onwards, and from 61
