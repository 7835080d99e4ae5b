"""Projection lag: how many events and milliseconds the active read model is behind the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.query.application.ports import EventFeed, ReadModel

__all__ = ["ProjectionLag", "measure_lag"]


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
