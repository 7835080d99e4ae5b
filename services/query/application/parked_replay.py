"""Replaying parked events after a fix: the operator's half of the parked-event workflow.

For the projector, replaying a parked event repairs its grid (``repair_grid``: the whole
grid replaced with a fold of its events from the store, the parked one and those held behind
it included) and then resolves the record. For the broadcaster there is nothing to re-apply
(watchers re-read a grid when they meet a gap): replaying checks that the grid's events now
decode, then resolves the record. An event that still cannot be read stays parked, with the
reason in the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import GridNotFoundError
from services.common.parked import (
    BROADCASTER,
    PROJECTOR,
    ParkedEvent,
    ParkedEvents,
    PoisonEventError,
    grid_of_stream,
)
from services.query.application.audit import store_history
from services.query.application.errors import GapNotHealableError, InvalidQueryError
from services.query.application.ports import EventFeed, ReadModel
from services.query.application.repair import RepairContendedError, repair_grid
from services.query.application.watch import VersionWatch

__all__ = ["ParkedReplay"]

CONSUMERS = (PROJECTOR, BROADCASTER)
# What a replay meets when an event still cannot be read or applied: the record stays.
_STILL_FAILING: tuple[type[Exception], ...] = (
    PoisonEventError,
    ValueError,  # undecodable (IntegrationDecodeError is one)
    GapNotHealableError,
    GridNotFoundError,
    RepairContendedError,
)


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What replaying one parked event did: resolved, and how (or why not)."""

    parked_id: str
    resolved: bool
    detail: str


class ParkedReplay:
    """Lists and replays the parked events of the read side's consumers."""

    def __init__(
        self,
        parked: ParkedEvents,
        feed: EventFeed,
        read_model: ReadModel,
        *,
        watch: VersionWatch | None = None,
    ) -> None:
        self._parked = parked
        self._feed = feed
        self._model = read_model
        self._watch = watch

    async def unresolved(self, consumer: str = "") -> list[ParkedEvent]:
        """Unresolved parked events of ``consumer`` ("": every consumer), oldest first."""
        if consumer and consumer not in CONSUMERS:
            raise InvalidQueryError(
                f"consumer {consumer!r} is not one of {', '.join(CONSUMERS)}",
                field="consumer",
                reason="UNKNOWN_CONSUMER",
            )
        found: list[ParkedEvent] = []
        for name in [consumer] if consumer else CONSUMERS:
            found += await self._parked.unresolved(name)
        return sorted(found, key=lambda p: p.parked_at_ms)

    async def replay(self, ids: Sequence[str]) -> list[ReplayOutcome]:
        """Replay the parked events ``ids`` (empty: every unresolved one)."""
        entries = {p.parked_id: p for p in await self.unresolved()}
        unknown = [i for i in ids if i not in entries]
        if unknown:
            raise InvalidQueryError(
                f"no unresolved parked event with id {', '.join(unknown)}",
                field="ids",
                reason="PARKED_EVENT_NOT_FOUND",
            )
        chosen = [entries[i] for i in dict.fromkeys(ids)] if ids else list(entries.values())
        done: dict[tuple[str, str], str] = {}  # (consumer, grid) -> how it was resolved
        outcomes = []
        for entry in chosen:
            key = (entry.consumer, entry.event.grid_id)
            try:
                how = done.get(key) or await self._replay_one(entry)
            except _STILL_FAILING as error:
                outcomes.append(ReplayOutcome(entry.parked_id, False, f"still failing: {error}"))
                continue
            done[key] = how
            await self._parked.resolve(entry.consumer, entry.parked_id, how)
            outcomes.append(ReplayOutcome(entry.parked_id, True, how))
        return outcomes

    async def _replay_one(self, entry: ParkedEvent) -> str:
        grid_id = entry.event.grid_id or grid_of_stream(entry.event.stream)
        if not grid_id:
            raise GapNotHealableError(f"{entry.event.stream} is not a grid's stream")
        if entry.consumer == PROJECTOR:
            result = await repair_grid(self._feed, self._model, grid_id, watch=self._watch)
            return f"replayed: grid {grid_id} repaired at version {result.version}"
        history = await store_history(self._feed, grid_id)
        return f"replayed: grid {grid_id} decodes up to version {len(history)}"
