"""Audit use case: the read model against a replay of the store, grid by grid.

A grid's integration events are read from the store and folded with the projector's own pure
projection (``project``); the result is compared with what the active generation holds, as a
view (the hashes: GetRover, ListGrids) and as its stored GridDetails document
(GetGridDetails). A model that lags is compared with the replay of the events it has
reached (its version), so lag is reported as ``behind``, not as drift.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from domain.errors import GridNotFoundError
from services.common.envelope import Envelope
from services.query.application.errors import GapNotHealableError
from services.query.application.ports import EventFeed, GridView, HashUpdate, ReadModel
from services.query.application.projection import grid_view, project

__all__ = [
    "Auditor",
    "FieldDrift",
    "GridAudit",
    "compare",
    "replayed",
    "store_history",
]

_WHOLE_STREAM = 2**62  # the last sequence of a read "to the end"
_PAGE = 200  # grids listed per read model call when auditing all of them


@dataclass(frozen=True, slots=True)
class FieldDrift:
    """One field that differs: what the read model holds and what the replay gives ("" absent)."""

    field: str
    model: str
    store: str


@dataclass(frozen=True, slots=True)
class GridAudit:
    """The audit of one grid: its versions on both sides and the fields that differ."""

    grid_id: str
    model_version: int
    store_version: int
    fields: tuple[FieldDrift, ...]

    @property
    def drifted(self) -> bool:
        """Whether the model holds something the store's events do not say."""
        return bool(self.fields)

    @property
    def behind(self) -> bool:
        """Whether the model has not reached the store's last event yet (lag, not drift)."""
        return self.model_version < self.store_version


async def store_history(feed: EventFeed, grid_id: str) -> list[Envelope]:
    """Every integration event of ``grid_id`` in the store, complete from sequence 1."""
    found = sorted(await feed.read_grid(grid_id, 1, _WHOLE_STREAM), key=lambda e: e.sequence)
    sequences = [e.sequence for e in found]
    if sequences != list(range(1, len(found) + 1)):
        raise GapNotHealableError(f"grid {grid_id!r}: the store has sequences {sequences}")
    return found


def replayed(updates: Sequence[HashUpdate]) -> GridView | None:
    """The grid that ``updates`` (its events from the first, projected) fold into."""
    grid: dict[str, str] = {}
    obstacles: set[str] = set()
    rovers: dict[str, dict[str, str]] = {}
    for update in updates:
        grid.update(update.grid_fields)
        obstacles.update(update.obstacles)
        if update.rover_id:
            rovers.setdefault(update.rover_id, {}).update(update.rover_fields)
    if "grid_id" not in grid:
        return None
    return grid_view(grid, obstacles, rovers.items())


def _rover_text(view: GridView, rover_id: str) -> str:
    rover = next((r for r in view.rovers if r.rover_id == rover_id), None)
    return f"{rover.x},{rover.y} {rover.facing}" if rover else ""


def compare(model: GridView | None, store: GridView | None, prefix: str = "") -> list[FieldDrift]:
    """The fields in which ``model`` differs from ``store`` (field names after ``prefix``)."""
    if model is None or store is None:
        if model is None and store is None:
            return []
        shown = ("present", "") if store is None else ("", "present")
        return [FieldDrift(f"{prefix}grid", *shown)]
    out: list[FieldDrift] = []
    scalars = ("width", "height", "topology", "version")
    for name in scalars:
        mine, theirs = str(getattr(model, name)), str(getattr(store, name))
        if mine != theirs:
            out.append(FieldDrift(prefix + name, mine, theirs))
    if model.obstacles != store.obstacles:

        def cells(view: GridView) -> str:
            return " ".join(f"{x},{y}" for x, y in view.obstacles)

        out.append(FieldDrift(prefix + "obstacles", cells(model), cells(store)))
    ids = sorted({r.rover_id for r in model.rovers} | {r.rover_id for r in store.rovers})
    for rover_id in ids:
        mine, theirs = _rover_text(model, rover_id), _rover_text(store, rover_id)
        if mine != theirs:
            out.append(FieldDrift(f"{prefix}rovers/{rover_id}", mine, theirs))
    return out


class Auditor:
    """Audits grids of the active generation; ``decode_details`` reads a stored GridDetails
    document back as a view (the adapters' encoding: opaque here)."""

    def __init__(
        self,
        feed: EventFeed,
        read_model: ReadModel,
        decode_details: Callable[[bytes], GridView],
    ) -> None:
        self._feed = feed
        self._model = read_model
        self._decode = decode_details

    async def audit(self, grid_id: str) -> GridAudit:
        """One grid; GridNotFoundError when neither the model nor the store has it."""
        model = await self._model.grid(grid_id)  # read first: the store can only be ahead
        document = await self._model.grid_document(grid_id)
        history = await store_history(self._feed, grid_id)
        if model is None and document is None and not history:
            raise GridNotFoundError(grid_id)
        version = model.version if model else (document.version if document else 0)
        reached = [project(e) for e in history[:version]] if version else []
        expected = replayed(reached)
        fields = compare(model, expected)
        if document is not None or expected is not None:
            stored = self._decode(document.details) if document else None
            fields += compare(stored, expected, "details.")
        if version > len(history):
            fields.append(FieldDrift("version", str(version), str(len(history))))
        return GridAudit(grid_id, version, len(history), tuple(dict.fromkeys(fields)))

    async def grid_ids(self) -> AsyncIterator[str]:
        """Every grid the read model lists, in id order."""
        after = ""
        while True:
            page = await self._model.list_grids(after, _PAGE)
            for summary in page:
                yield summary.grid_id
            if len(page) < _PAGE:
                return
            after = page[-1].grid_id
