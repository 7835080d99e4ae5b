"""The projector use case: sequence-checked, gap-healing, batched projection of the feed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.common import tracing
from services.common.envelope import Envelope
from services.common.logs import get_logger
from services.query.application.errors import (
    GapNotHealableError,
    GenerationChangedError,
    ReadModelRewoundError,
    ReadModelUnavailableError,
    VersionConflictError,
)
from services.query.application.ports import (
    Checkpoint,
    EventFeed,
    FeedItem,
    HashUpdate,
    ReadModel,
)
from services.query.application.projection import project
from services.query.application.watch import VersionWatch

__all__ = ["BatchOutcome", "Projector", "projected"]

_log = get_logger(__name__)
_MAX_CONFLICT_RETRIES = 5
_MAX_CACHED_VERSIONS = 100_000  # grids whose version is kept; beyond it they are read again


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch did: events applied, duplicates skipped, events fetched to heal gaps."""

    applied: int
    duplicates: int
    healed: int
    checkpoint: Checkpoint


def projected(item: FeedItem) -> HashUpdate | None:
    """What an item's event changes (None for a bare checkpoint)."""
    if item.update is not None:
        return item.update
    return project(item.envelope) if item.envelope is not None else None


class Projector:
    """Folds the feed into a generation of the read model, per grid in sequence order.

    Per grid it compares each event's sequence with the projected version: at or below is a
    duplicate (skipped), one above is applied, further above is a gap, healed by reading the
    missing events from the store first. Nothing is applied out of order and nothing is
    skipped. The updates of a batch and its checkpoint are committed in one atomic step, so a
    crash at any point leaves the model at a checkpoint it can resume from.

    ``generation`` None means the live mode: follow the active generation, and start over
    from its checkpoint when a rebuild swaps a new one in.

    A read model that lost writes (Redis restored from an older dump, or failed over to a
    lagging replica) heals itself: it then counts fewer commits than this projector saw when
    it read versions or committed. Every commit refuses to write in that state, and every
    ``rewind_check_seconds`` an idle projector asks for the store's instance id and, when it
    changed, compares the count. Either way the projector starts over from the stored
    checkpoint: the events after it are re-delivered, the grids that kept their writes skip
    them as duplicates, and those that lost some apply them again.
    """

    def __init__(
        self,
        feed: EventFeed,
        read_model: ReadModel,
        *,
        batch_size: int = 500,
        watch: VersionWatch | None = None,
        generation: int | None = None,
        rewind_check_seconds: float = 1.0,
    ) -> None:
        self._feed = feed
        self._model = read_model
        self._batch_size = batch_size
        self._watch = watch
        self._fixed_generation = generation
        self.rewind_check_seconds = rewind_check_seconds
        self._versions: dict[str, int] = {}
        self._events = 0
        self._seen = 0  # the highest commit count seen: what the cached versions rely on
        self._instance = ""
        self.checkpoint: Checkpoint | None = None

    async def run(
        self,
        *,
        until: Callable[[Checkpoint], bool] | None = None,
        on_batch: Callable[[BatchOutcome], None] | None = None,
        retry_seconds: float = 1.0,
    ) -> None:
        """Project until cancelled, or until ``until(checkpoint)`` is true after a batch."""
        while True:
            generation = (
                self._fixed_generation
                if self._fixed_generation is not None
                else await self._model.active_generation()
            )
            self._instance = await self._model.instance()  # before the checkpoint it vouches for
            self.checkpoint = await self._model.checkpoint(generation)
            self._seen = await self._model.commit_count()  # after the checkpoint it covers
            self._versions.clear()
            self._events = self.checkpoint.events if self.checkpoint else 0
            after = self.checkpoint.position if self.checkpoint else None
            _log.info("projector subscribing", generation=generation, after=after)
            try:
                if await self._follow(generation, after, until, on_batch):
                    return
            except GenerationChangedError:
                _log.info("read model generation changed; resuming from its checkpoint")
                if self._watch is not None:
                    self._watch.reset()
            except ReadModelRewoundError as error:
                _log.warning(
                    "read model lost writes; re-projecting from its checkpoint",
                    generation=error.generation,
                    stored=error.stored,
                    seen=error.seen,
                )
                if self._watch is not None:
                    self._watch.reset()
            except GapNotHealableError as error:
                _log.error("gap cannot be healed yet; retrying", error=str(error))
                await asyncio.sleep(retry_seconds)

    async def _follow(
        self,
        generation: int,
        after: int | None,
        until: Callable[[Checkpoint], bool] | None,
        on_batch: Callable[[BatchOutcome], None] | None,
    ) -> bool:
        """Project the feed after ``after`` (True once ``until`` holds, False if the feed
        ends), checking for a rewind between batches."""

        # The feed is read by a task of its own, so that a quiet feed leaves time to check;
        # batches are processed here, one at a time, never beside a check.
        batches: asyncio.Queue[list[FeedItem] | Exception | None] = asyncio.Queue(maxsize=1)

        async def pump() -> None:
            try:
                async for batch in self._feed.subscribe(after, self._batch_size):
                    await batches.put(batch)
            except Exception as error:  # raised where the batches are processed
                await batches.put(error)
            else:
                await batches.put(None)

        reader = asyncio.ensure_future(pump())
        getter = asyncio.ensure_future(batches.get())
        try:
            while True:
                done, _ = await asyncio.wait({getter}, timeout=self.rewind_check_seconds)
                if not done:
                    await self._check_rewind(generation)
                    continue
                batch = getter.result()
                if batch is None:
                    return False
                if isinstance(batch, Exception):
                    raise batch
                getter = asyncio.ensure_future(batches.get())
                outcome = await self.process(generation, batch)
                if on_batch is not None:
                    on_batch(outcome)
                if until is not None and until(outcome.checkpoint):
                    return True
        finally:
            for task in (getter, reader):
                task.cancel()
            await asyncio.gather(getter, reader, return_exceptions=True)

    async def _check_rewind(self, generation: int) -> None:
        """ReadModelRewoundError when the store restarted without commits seen there."""
        try:
            instance = await self._model.instance()
            if instance and instance == self._instance:
                return
            stored = await self._model.commit_count()  # "" (unknown): every time
        except ReadModelUnavailableError as error:
            _log.warning("read model unreachable; checking for a rewind later", error=str(error))
            return
        if instance != self._instance:
            _log.info("read model instance changed", instance=instance)
            self._instance = instance
        if stored < self._seen:
            raise ReadModelRewoundError(generation, stored, self._seen)

    async def process(self, generation: int, batch: Sequence[FeedItem]) -> BatchOutcome:
        """Classify, heal and commit one batch (retrying when the model moved under us).

        Traced (when on) as one span per batch of events, continuing their commands' traces.
        """
        if not tracing.enabled() or all(i.envelope is None and i.update is None for i in batch):
            return await self._process(generation, batch)
        with tracing.consumer_span(
            "rover.project", (i.trace for i in batch), {"messaging.batch.message_count": len(batch)}
        ):
            outcome = await self._process(generation, batch)
            tracing.annotate("rover.applied", outcome.applied)
            return outcome

    async def _process(self, generation: int, batch: Sequence[FeedItem]) -> BatchOutcome:
        for _ in range(_MAX_CONFLICT_RETRIES):
            try:
                return await self._process_once(generation, batch)
            except VersionConflictError as conflict:
                _log.warning(
                    "read model version differs; re-reading",
                    grid_id=conflict.grid_id,
                    actual=conflict.actual,
                )
                self._versions.pop(conflict.grid_id, None)
        return await self._process_once(generation, batch)

    async def _process_once(self, generation: int, batch: Sequence[FeedItem]) -> BatchOutcome:
        events = [projected(item) for item in batch]
        if len(self._versions) > _MAX_CACHED_VERSIONS:  # bounded memory: re-read on demand
            self._versions.clear()
        unknown = {u.grid_id for u in events if u is not None and u.grid_id not in self._versions}
        if unknown:
            self._versions.update(await self._model.grid_versions(generation, sorted(unknown)))
            # read after the versions: a model that counts fewer later may have lost them
            self._seen = max(self._seen, await self._model.commit_count())
        versions = dict(self._versions)  # adopted only once the commit succeeded
        updates: list[HashUpdate] = []
        duplicates = healed = consumed = 0
        for update in events:
            if update is None:
                continue
            consumed += 1
            grid_id = str(update.grid_id)
            current = versions.get(grid_id, 0)
            if update.sequence <= current:
                duplicates += 1
                continue
            if update.sequence > current + 1:
                missing = await self._heal(grid_id, current + 1, update.sequence - 1)
                updates.extend(project(m) for m in missing)
                healed += len(missing)
            updates.append(update)
            versions[grid_id] = update.sequence
        last = batch[-1] if batch else None
        previous = self.checkpoint
        checkpoint = Checkpoint(
            position=last.position if last else (previous.position if previous else 0),
            recorded_at_ms=(last.recorded_at_ms if last else 0)
            or (previous.recorded_at_ms if previous else 0),
            events=self._events + consumed,
        )
        if previous is not None and not updates and checkpoint.position <= previous.position:
            # Nothing to write (late duplicates): the stored checkpoint stays as it is.
            self._events = checkpoint.events
            self.checkpoint = Checkpoint(previous.position, previous.recorded_at_ms, self._events)
            return BatchOutcome(0, duplicates, 0, self.checkpoint)
        count = await self._model.commit(
            generation,
            updates,
            checkpoint,
            must_be_active=self._fixed_generation is None,
            not_before=self._seen,
        )
        self._seen = max(self._seen, count)
        self._versions = versions
        self._events = checkpoint.events
        self.checkpoint = checkpoint
        if self._watch is not None and updates:
            self._watch.published({u.grid_id for u in updates})
        return BatchOutcome(len(updates) - healed, duplicates, healed, checkpoint)

    async def _heal(self, grid_id: str, first: int, last: int) -> list[Envelope]:
        """The events ``first..last`` of a grid, complete and in order, or GapNotHealableError."""
        found = sorted(await self._feed.read_grid(grid_id, first, last), key=lambda e: e.sequence)
        sequences = [e.sequence for e in found]
        if sequences != list(range(first, last + 1)):
            raise GapNotHealableError(
                f"grid {grid_id!r} needs sequences {first}..{last}; the store has {sequences}"
            )
        _log.info("healed a gap", grid_id=grid_id, first=first, last=last)
        return found
