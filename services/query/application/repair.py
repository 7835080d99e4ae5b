"""Repair use case: replace one grid's read model entry with a replay of its events.

Ordering with a live projector: the grid's version is read from the model first, its events
from the store after (so the store holds at least that many), and the replacement is written
only while the model is still at the version read (``ReadModel.replace_grid``); when the
projector moved it meanwhile, the repair reads both again. A projector that then meets the
new version gets a version conflict on its next commit, re-reads the grid's version and skips
what the replacement holds as duplicates: nothing is applied twice or lost, and the model
never goes back to an older version.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import GridNotFoundError
from services.common.logs import get_logger
from services.query.application.audit import FieldDrift, compare, replayed, store_history
from services.query.application.errors import (
    GenerationChangedError,
    QueryError,
    VersionConflictError,
)
from services.query.application.ports import EventFeed, ReadModel
from services.query.application.projection import project
from services.query.application.watch import VersionWatch

__all__ = ["RepairContendedError", "RepairResult", "repair_grid"]

_log = get_logger(__name__)


class RepairContendedError(QueryError):
    """The grid kept moving under the repair (a busy grid): nothing was written; try again."""

    def __init__(self, grid_id: str, attempts: int) -> None:
        super().__init__(
            f"grid {grid_id!r} changed in the read model during each of {attempts} attempts "
            "to repair it; nothing was written (try again)"
        )
        self.grid_id = grid_id


@dataclass(frozen=True, slots=True)
class RepairResult:
    """A repaired grid: its versions before and after, and the fields that changed."""

    grid_id: str
    previous_version: int
    version: int
    fixed: tuple[FieldDrift, ...]


async def repair_grid(
    feed: EventFeed,
    read_model: ReadModel,
    grid_id: str,
    *,
    attempts: int = 5,
    watch: VersionWatch | None = None,
) -> RepairResult:
    """Make the active generation's entry of ``grid_id`` the fold of the store's events.

    GridNotFoundError when neither side has the grid; RepairContendedError when the model
    moved under every attempt. ``watch`` (the local queries' waiters) learns the new version.
    """
    for _ in range(attempts):
        generation = await read_model.active_generation()
        before = (await read_model.grid_versions(generation, [grid_id]))[grid_id]
        model = await read_model.grid(grid_id)
        history = await store_history(feed, grid_id)
        if not history and before == 0 and model is None:
            raise GridNotFoundError(grid_id)
        updates = [project(e) for e in history]
        try:
            await read_model.replace_grid(generation, grid_id, updates, expected_version=before)
        except (VersionConflictError, GenerationChangedError) as moved:
            _log.info("grid moved during its repair; again", grid_id=grid_id, why=str(moved))
            continue
        fixed = tuple(compare(model, replayed(updates)))
        _log.warning(
            "grid repaired",
            grid_id=grid_id,
            previous_version=before,
            version=len(history),
            fixed=[f.field for f in fixed],
        )
        if watch is not None:
            watch.published({grid_id})
        return RepairResult(grid_id, before, len(history), fixed)
    raise RepairContendedError(grid_id, attempts)
