"""Rebuild use case: replay every event into a new generation, then swap it in atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.logs import get_logger
from services.common.parked import ParkedEvents
from services.query.application.ports import Checkpoint, EventFeed, ReadModel
from services.query.application.projector import BatchOutcome, Projector

__all__ = ["RebuildProgress", "RebuildResult", "rebuild"]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    """Progress of a rebuild: events replayed, and positions done / to reach."""

    events: int
    position: int
    target: int


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """A finished rebuild: the new generation, the one it replaced, and what it took."""

    generation: int
    replaced: int
    events: int
    seconds: float


async def rebuild(
    feed: EventFeed,
    read_model: ReadModel,
    *,
    batch_size: int = 500,
    on_progress: Callable[[RebuildProgress], None] | None = None,
    parked: ParkedEvents | None = None,
) -> RebuildResult:
    """Build a new generation from the first event; swap it in once it has caught up.

    Queries keep reading the active generation throughout; the swap is one atomic step and
    only happens when the new generation has reached the active one's checkpoint (a live
    projector may have moved on meanwhile: then the rebuild keeps going first). The replaced
    generation is deleted afterwards.
    """
    started = time.monotonic()
    generation = await read_model.new_generation()
    projector = Projector(
        feed, read_model, batch_size=batch_size, generation=generation, parked=parked
    )
    _log.info("rebuild started", generation=generation)

    def report(outcome: BatchOutcome) -> None:
        if on_progress is not None:
            cp = outcome.checkpoint
            on_progress(RebuildProgress(cp.events, cp.position, target))

    while True:
        head = await feed.head()
        active = await read_model.checkpoint(await read_model.active_generation())
        target = max(head.position if head else 0, active.position if active else 0)
        done = projector.checkpoint
        # No integration event at all: nothing will ever come to replay, so don't wait for it.
        if head is not None and target > (done.position if done else -1):

            def reached(checkpoint: Checkpoint, goal: int = target) -> bool:
                return checkpoint.position >= goal

            await projector.run(until=reached, on_batch=report)
        elif done is None:  # nothing to replay at all: still give the generation a checkpoint
            await read_model.commit(generation, [], Checkpoint(target), must_be_active=False)
        replaced = await read_model.swap(generation)
        if replaced is not None:
            break
        _log.info("live projector is ahead; rebuild continues", generation=generation)
    await read_model.drop_generation(replaced)
    final = await read_model.checkpoint(generation)
    result = RebuildResult(
        generation=generation,
        replaced=replaced,
        events=final.events if final else 0,
        seconds=time.monotonic() - started,
    )
    _log.info(
        "rebuild swapped in",
        generation=generation,
        replaced=replaced,
        events=result.events,
        seconds=round(result.seconds, 3),
    )
    return result
