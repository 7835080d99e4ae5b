"""How far a filtered part of ``$all`` reaches, and how much of it lies after a position.

The questions every lag measurement asks of the store (the publisher behind ``grid-*``, the
projector behind ``integration-*``): one backwards read of one event for the newest, and one
forward read, counted up to a cap, for what follows a position. One read each; callers wrap
them in their own retry and error translation (``whole_read``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from esdbclient import AsyncEventStoreDBClient

__all__ = ["count_after", "newest", "recorded_ms"]


def recorded_ms(moment: datetime | None) -> int:
    """An event's recorded time in epoch milliseconds (0 when the store gave none)."""
    return int(moment.timestamp() * 1000) if moment is not None else 0


async def newest(client: AsyncEventStoreDBClient, streams: Sequence[str]) -> tuple[int, int] | None:
    """The commit position and recorded time (ms) of the newest event of the streams matching
    ``streams`` (esdbclient's stream-name regexes), or None when there is none."""
    events = await client.read_all(
        backwards=True,
        filter_include=streams,
        filter_by_stream_name=True,
        limit=1,
    )
    async with events:
        async for recorded in events:
            return recorded.commit_position or 0, recorded_ms(recorded.recorded_at)
    return None


async def count_after(
    client: AsyncEventStoreDBClient,
    streams: Sequence[str],
    position: int | None,
    cap: int,
    *,
    call_timeout: float | None = None,
) -> tuple[int, int]:
    """How many events of the matching streams lie after ``position`` (None: all of them),
    counting stops at ``cap``; and the recorded time (ms) of the first of them (0: none).
    ``call_timeout``: the read's deadline in seconds (None: esdbclient's default)."""
    after = -1 if position is None else position
    events = await client.read_all(
        commit_position=position if position is not None and position >= 0 else None,
        filter_include=streams,
        filter_by_stream_name=True,
        limit=cap + 1,
        timeout=call_timeout,
    )
    count, first_ms = 0, 0
    async with events:
        async for recorded in events:
            if (recorded.commit_position or 0) <= after:
                continue  # the read starts at the position itself
            if count == 0:
                first_ms = recorded_ms(recorded.recorded_at)
            count += 1
            if count >= cap:
                break
    return count, first_ms
