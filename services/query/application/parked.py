"""The operator's use cases on parked events: list them, and replay one after a fix.

A projector's parked event is replayed by projecting its grid from the read model's version
on: the grid's integration events from version + 1 to the end of its stream are read,
decoded, projected and committed (at the active generation, with the read model's version
checks, so a live projector is never contradicted), again until a read finds nothing new.
On success the parked record is resolved ("replayed"); when the event still cannot be
decoded or projected it stays parked and the result says why.

A broadcaster's parked event needs no replay of its own (its watchers re-read the grid from
the store on a gap): checking that it now decodes and folds onto its grid's history is
enough to resolve it ("checked").

A publisher's parked event (a domain event) is replayed by the command service's publisher
itself, the one place that publishes (services/command/application/publisher_poison.py):
resolving the record ("released") releases its grid, and the publisher then publishes the
grid's held events from its domain stream, in order, parking again an event it still cannot
decode. The query service cannot decode domain events, so it does not check them first.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import EventHistoryInvalidError
from domain.fast_fold import GridFold
from services.common.envelope import Envelope
from services.common.logs import get_logger
from services.common.parked import (
    BROADCASTER,
    PROJECTOR,
    PUBLISHER,
    ParkedEvent,
    ParkedEvents,
    PoisonEvent,
    PoisonEventError,
)
from services.query.application.errors import ParkedEventNotFoundError, VersionConflictError
from services.query.application.poison import Holds, Projection, effect_of
from services.query.application.ports import Checkpoint, EventFeed, HashUpdate, ReadModel
from services.query.application.projection import project
from services.query.application.watch import VersionWatch

__all__ = ["RELEASED", "ParkedReplays", "ReplayResult"]

_log = get_logger(__name__)
_PAGE = 500
_MAX_ROUNDS = 50  # commits of one replay (a busy grid keeps adding events meanwhile)
RELEASED = "released"  # how a publisher's record is resolved: its grid released to publish


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did: ``resolved`` (and ``how``), or why the event stays parked."""

    parked: ParkedEvent
    resolved: bool
    how: str  # "replayed", "checked", "already applied", "released"; "" when it stays parked
    applied: int  # events committed to the read model
    version: int  # the grid's version afterwards (projector) or the event's (broadcaster)
    reason: str  # why it stays parked; "" when resolved


class ParkedReplays:
    """List and replay the parked events of the projector, the broadcaster and the publisher."""

    def __init__(
        self,
        parked: ParkedEvents,
        feed: EventFeed,
        read_model: ReadModel,
        *,
        projection: Projection = project,
        watch: VersionWatch | None = None,
    ) -> None:
        self._parked = parked
        self._feed = feed
        self._model = read_model
        self._projection = projection
        self._watch = watch

    async def unresolved(self, consumer: str = PROJECTOR) -> list[ParkedEvent]:
        """The consumer's unresolved parked events, oldest first."""
        return await self._parked.unresolved(consumer)

    async def replay(self, parked_id: str, consumer: str = PROJECTOR) -> ReplayResult:
        """Replay one unresolved parked event (ParkedEventNotFoundError when there is none)."""
        record = next(
            (p for p in await self._parked.unresolved(consumer) if p.parked_id == parked_id),
            None,
        )
        if record is None:
            raise ParkedEventNotFoundError(consumer, parked_id)
        if not record.event.grid_id:
            return self._stays(record, "not an event of a grid's stream", 0, 0)
        if consumer == BROADCASTER:
            return await self._check(record)
        if consumer == PUBLISHER:
            return await self._resolve(record, RELEASED, 0, record.event.sequence)
        return await self._project(record)

    async def _project(self, record: ParkedEvent) -> ReplayResult:
        grid_id, sequence = record.event.grid_id, record.event.sequence
        generation = await self._model.active_generation()
        applied, version = 0, 0
        for _ in range(_MAX_ROUNDS):
            version = (await self._model.grid_versions(generation, [grid_id])).get(grid_id, 0)
            if applied == 0 and version >= sequence:
                return await self._resolve(record, "already applied", 0, version)
            updates, poison = await self._read_after(grid_id, version + 1)
            if poison is not None and poison.sequence <= sequence:
                return self._stays(record, poison.reason, applied, version)
            if updates:
                checkpoint = await self._model.checkpoint(generation) or Checkpoint(0)
                try:  # the checkpoint never moves backwards: this one leaves it as it is
                    await self._model.commit(generation, updates, checkpoint, must_be_active=False)
                except VersionConflictError:
                    continue  # the live projector moved the grid meanwhile: read again
                applied += len(updates)
                version = updates[-1].sequence
                if self._watch is not None:  # queries waiting for this version answer now
                    self._watch.published({grid_id})
            if poison is not None:  # a later event of the grid: parked, the grid held there
                await Holds(self._parked, PROJECTOR).hold(poison)
                break
            if not updates:
                break
        return await self._resolve(record, "replayed", applied, version)

    async def _read_after(
        self, grid_id: str, first: int
    ) -> tuple[list[HashUpdate], PoisonEvent | None]:
        """The updates of the grid's events from ``first`` to the end of its stream, cut
        short at the first poison event (returned too)."""
        updates: list[HashUpdate] = []
        while True:
            poison: PoisonEvent | None = None
            try:
                found = await self._feed.read_grid(grid_id, first, first + _PAGE - 1)
            except PoisonEventError as error:
                found = [e for e in error.before if isinstance(e, Envelope)]
                poison = error.poison
            for envelope in sorted(found, key=lambda e: e.sequence):
                if envelope.sequence != first:
                    break  # a stream has no gaps; a read cut short ends the replay's round
                effect = effect_of(self._projection, envelope, 0)
                if isinstance(effect, PoisonEvent):
                    return updates, effect
                updates.append(effect)
                first += 1
            if poison is not None or len(found) < _PAGE:
                return updates, poison

    async def _check(self, record: ParkedEvent) -> ReplayResult:
        """A broadcaster's event: resolved once its grid's history decodes and folds."""
        grid_id, sequence = record.event.grid_id, record.event.sequence
        try:
            history = await self._feed.read_grid(grid_id, 1, sequence)
            fold: GridFold | None = None
            for envelope in sorted(history, key=lambda e: e.sequence):
                if fold is None:
                    fold = GridFold.start(envelope.event)
                else:
                    fold.apply(envelope.event)
        except (PoisonEventError, EventHistoryInvalidError, ValueError) as error:
            return self._stays(record, str(error), 0, sequence)
        if len(history) != sequence:
            return self._stays(record, f"the store holds {len(history)} of its events", 0, 0)
        return await self._resolve(record, "checked", 0, sequence)

    async def _resolve(
        self, record: ParkedEvent, how: str, applied: int, version: int
    ) -> ReplayResult:
        await self._parked.resolve(record.consumer, record.parked_id, how)
        _log.info(
            "parked event resolved",
            parked_id=record.parked_id,
            consumer=record.consumer,
            how=how,
            applied=applied,
            version=version,
        )
        return ReplayResult(record, True, how, applied, version, "")

    def _stays(self, record: ParkedEvent, reason: str, applied: int, version: int) -> ReplayResult:
        _log.error(
            "replay failed; the event stays parked",
            parked_id=record.parked_id,
            consumer=record.consumer,
            reason=reason,
            applied=applied,
        )
        return ReplayResult(record, False, "", applied, version, reason)
