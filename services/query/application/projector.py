"""The projector use case: sequence-checked, gap-healing, batched projection of the feed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.common import tracing
from services.common.envelope import Envelope
from services.common.logs import get_logger
from services.common.parked import PROJECTOR, InMemoryParkedEvents, ParkedEvents, PoisonEvent
from services.query.application.errors import (
    GapNotHealableError,
    GenerationChangedError,
    ReadModelRewoundError,
    ReadModelUnavailableError,
    VersionConflictError,
)
from services.query.application.poison import Holds, effect_of, heal
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
    """What one batch did: events applied, duplicates skipped, events fetched to heal gaps,
    events held back behind a parked one."""

    applied: int
    duplicates: int
    healed: int
    checkpoint: Checkpoint
    held: int = 0  # events of held grids (a parked event before them) not applied


def projected(item: FeedItem) -> HashUpdate | None:
    """What an item's event changes (None for a bare checkpoint or a poison event)."""
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

    An event that cannot be decoded, or whose projection raises, is parked (``parked``, as
    ``consumer``) and its grid is *held*: the grid stays at its last good version and its
    later events are counted (``held``) but not applied, while the other grids and the
    checkpoint go on. A replay of the parked event (application/parked.py) applies them in
    order; the projector sees it when the grid's version has passed the parked event. After
    a restart the hold is found again where healing meets the parked event (parking is
    idempotent). ``projection`` is ``project`` (tests give a faulty one).
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
        parked: ParkedEvents | None = None,
        consumer: str = PROJECTOR,
        projection: Callable[[Envelope], HashUpdate] = project,
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
        self._holds = Holds(parked if parked is not None else InMemoryParkedEvents(), consumer)
        self._projection = projection
        self._held: dict[str, int] = {}  # grid -> the sequence of its parked event
        self.held_events = 0
        """Events not applied because a parked event of their grid came first (a count)."""

    async def run(
        self,
        *,
        until: Callable[[Checkpoint], bool] | None = None,
        on_batch: Callable[[BatchOutcome], None] | None = None,
        retry_seconds: float = 1.0,
    ) -> None:
        """Project until cancelled, or until ``until(checkpoint)`` is true after a batch."""
        while True:
            try:
                generation = (
                    self._fixed_generation
                    if self._fixed_generation is not None
                    else await self._model.active_generation()
                )
                self._instance = await self._model.instance()  # before the checkpoint it vouches
                self.checkpoint = await self._model.checkpoint(generation)
                self._seen = await self._model.commit_count()  # after the checkpoint it covers
                self._versions.clear()
                self._events = self.checkpoint.events if self.checkpoint else 0
                after = self.checkpoint.position if self.checkpoint else None
                _log.info("projector subscribing", generation=generation, after=after)
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
            except ReadModelUnavailableError as error:
                # an outage (Redis restarting, a Sentinel failover): start over from the
                # checkpoint the model holds when it answers again, as after a rewind
                _log.warning("read model unreachable; retrying", error=str(error))
                if self._watch is not None:
                    self._watch.reset()
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
        events = [self._effect(item) for item in batch]
        if len(self._versions) > _MAX_CACHED_VERSIONS:  # bounded memory: re-read on demand
            self._versions.clear()
        held = dict(self._held)  # like the versions: adopted only once the commit succeeded
        wanted = {e.grid_id for e in events if e is not None and e.grid_id}
        # a held grid's version is read again: a replay may have moved it past its poison
        unknown = {g for g in wanted if g not in self._versions or g in held}
        if unknown:
            self._versions.update(await self._model.grid_versions(generation, sorted(unknown)))
            # read after the versions: a model that counts fewer later may have lost them
            self._seen = max(self._seen, await self._model.commit_count())
            for grid_id in unknown & held.keys():
                if self._versions.get(grid_id, 0) >= held[grid_id]:
                    del held[grid_id]
                    _log.info("a held grid was replayed past its parked event", grid_id=grid_id)
        versions = dict(self._versions)
        updates: list[HashUpdate] = []
        duplicates = healed = consumed = waiting = 0
        for effect in events:
            if effect is None:
                continue
            consumed += 1
            grid_id = str(effect.grid_id)
            if isinstance(effect, PoisonEvent) and not grid_id:
                await self._holds.hold(effect)  # no grid's stream: nothing to hold up
                continue
            if grid_id in held:
                waiting += 1  # applied in order by a replay of the parked event
                continue
            current = versions.get(grid_id, 0)
            if effect.sequence <= current:
                duplicates += 1
                continue
            if effect.sequence > current + 1:
                missing, poison = await heal(
                    self._feed, self._projection, grid_id, current + 1, effect.sequence - 1
                )
                updates.extend(missing)
                healed += len(missing)
                versions[grid_id] = current = current + len(missing)
                if poison is not None:
                    held[grid_id] = await self._holds.hold(poison)
                    waiting += 1
                    continue
            if isinstance(effect, PoisonEvent):
                held[grid_id] = await self._holds.hold(effect)
                continue
            updates.append(effect)
            versions[grid_id] = effect.sequence
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
            self._held = held
            self.held_events += waiting
            self.checkpoint = Checkpoint(previous.position, previous.recorded_at_ms, self._events)
            return BatchOutcome(0, duplicates, 0, self.checkpoint, waiting)
        count = await self._model.commit(
            generation,
            updates,
            checkpoint,
            must_be_active=self._fixed_generation is None,
            not_before=self._seen,
        )
        self._seen = max(self._seen, count)
        self._versions = versions
        self._held = held
        self.held_events += waiting
        self._events = checkpoint.events
        self.checkpoint = checkpoint
        if self._watch is not None and updates:
            self._watch.published({u.grid_id for u in updates})
        return BatchOutcome(len(updates) - healed, duplicates, healed, checkpoint, waiting)

    def _effect(self, item: FeedItem) -> HashUpdate | PoisonEvent | None:
        """What an item changes; its poison when it could not be decoded or projected."""
        if item.poison is not None:
            return item.poison
        if item.update is not None:
            return item.update
        if item.envelope is None:
            return None
        return effect_of(self._projection, item.envelope, item.position)
