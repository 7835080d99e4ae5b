"""Projection lag: how many events and milliseconds the active read model is behind the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.query.application.ports import EventFeed, ReadModel

__all__ = ["LagLog", "ProjectionLag", "measure_lag"]


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class ProjectionLag:
    """Lag of the active generation. ``capped``: at least ``events_behind`` events behind."""

    generation: int
    checkpoint: int
    head: int
    events_behind: int
    capped: bool
    lag_ms: int

    def as_fields(self) -> dict[str, str]:
        """For logs and the status hash."""
        return {
            "generation": str(self.generation),
            "checkpoint": str(self.checkpoint),
            "head": str(self.head),
            "events_behind": str(self.events_behind),
            "events_behind_capped": "1" if self.capped else "0",
            "lag_ms": str(self.lag_ms),
        }


async def measure_lag(
    feed: EventFeed, read_model: ReadModel, *, cap: int, now_ms: Callable[[], int] = _now_ms
) -> ProjectionLag:
    """Compare the active checkpoint with the newest integration event of the store.

    ``lag_ms`` is how long the oldest event not yet projected has been waiting (0 when the
    model is caught up).
    """
    generation = await read_model.active_generation()
    checkpoint = await read_model.checkpoint(generation)
    position = checkpoint.position if checkpoint else -1
    head = await feed.head()
    head_position = head.position if head else 0
    behind, first_ms = 0, 0
    if head is not None and head.position > position:
        behind, first_ms = await feed.count_after(position, cap)
    lag_ms = max(0, now_ms() - first_ms) if behind and first_ms else 0
    return ProjectionLag(
        generation=generation,
        checkpoint=max(position, 0),
        head=head_position,
        events_behind=behind,
        capped=behind >= cap,
        lag_ms=lag_ms,
    )


class LagLog:
    """When a measured lag is worth a log line: when it changed, or after ``every`` seconds.

    Measured every couple of seconds, an unchanged lag would fill the log with copies; a
    change (events behind, the cap, a new generation) is always logged.
    """

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._last: tuple[int, int, bool] | None = None
        self._at = 0.0

    def due(self, lag: ProjectionLag) -> bool:
        """Whether to log ``lag``; records it as logged when so."""
        key = (lag.generation, lag.events_behind, lag.capped)
        now = self._clock()
        if key == self._last and now - self._at < self._every:
            return False
        self._last, self._at = key, now
        return True
