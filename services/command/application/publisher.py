"""Reliable publication: every stored domain event becomes exactly one integration event.

The publisher follows a checkpointed catch-up subscription of the domain streams and appends
each event's envelope to its grid's integration stream at revision ``sequence - 1``, with an
event id derived from the domain event's id. A replay after a crash re-appends the same ids at
the same places, which the store accepts as a no-op: nothing is lost (the checkpoint is saved
only after the appends it covers), nothing is published that was not stored (the source is the
store itself), per-grid order holds (revisions are sequences) and duplicates are harmless.

To keep up with the feed, the reading never waits for an append: each grid has a lane (a queue
and at most one task appending its oldest events in one batch), and up to ``concurrency`` lanes
append at once, so the store commits the grids' appends together. The checkpoint follows a
low-water mark (``Watermark``): it never passes an event whose lane has not appended it yet.

With several instances of the command service, one publisher runs at a time: the checkpoint
store is also a lease (``services/common/lease.py``), ``run_forever`` publishes only while
this instance holds it, and a save after another instance took over is refused by the store.

The appends themselves are integration_appends.py's (which also log each request, for
idempotency by time: request_log.py). What cannot be published (a poison
event, an untrusted checkpoint) is publisher_poison.py's: a poison event is parked and its grid
held while the other grids go on; a released grid is published from its domain stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from services.command.application.errors import (
    CheckpointUntrustedError,
    PublicationError,
    StoreUnavailableError,
)
from services.command.application.integration_appends import GridHeldError, IntegrationAppends
from services.command.application.ports import (
    CheckpointStore,
    DomainEventFeed,
    FeedCheckpoint,
    IntegrationLog,
    StoredEvent,
)
from services.command.application.publisher_poison import CheckpointGuard, HeldGrids, check_start
from services.command.application.request_log import RequestLog
from services.command.application.watermark import Slot, Watermark
from services.common.lease import LeaseLostError, LeaseTiming, hold_and_run
from services.common.logs import get_logger
from services.common.parked import InMemoryParkedEvents, ParkedEvents, PoisonEvent

__all__ = ["Publisher", "PublisherSettings"]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PublisherSettings:
    """Batching, concurrency, retries and checkpointing of the publisher."""

    max_batch: int = 500  # events of one grid per append
    concurrency: int = 16  # grids appending at the same time
    max_pending: int = 10_000  # events read but not yet covered by the checkpoint position
    checkpoint_every: int = 1_000  # save the checkpoint after this many events ...
    checkpoint_interval: float = 1.0  # ... or this many seconds, whichever comes first
    append_attempts: int = 5  # tries of one append before the whole run restarts
    retry_delay: float = 0.05  # first backoff after a failed append (doubles per try) ...
    retry_max_delay: float = 1.0  # ... up to this
    restart_delay: float = 0.5  # after a failure (store down), before resubscribing
    recheck_delay: float = 1.0  # after an untrusted checkpoint, before looking at it again
    release_interval: float = 1.0  # how often the parked records are read (releases, count)
    lease: LeaseTiming = field(default_factory=LeaseTiming)  # one active publisher at a time


def _raise_if_cancelling() -> None:
    """Re-raise a cancellation that a client library turned into a normal end or an error."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(slots=True)
class _Lane:
    """One grid's events waiting to be appended, in feed (= sequence) order."""

    waiting: deque[tuple[StoredEvent, Slot]] = field(default_factory=deque)
    busy: bool = False  # a task is appending (only ever one: per-grid order)
    catch_up: bool = False  # publish from the domain stream first (the grid was released)


class Publisher:
    """Maps the domain event feed into integration streams; run it as a background task."""

    def __init__(
        self,
        feed: DomainEventFeed,
        log: IntegrationLog,
        checkpoints: CheckpointStore,
        settings: PublisherSettings | None = None,
        *,
        parked: ParkedEvents | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        requests: RequestLog | None = None,
    ) -> None:
        self._feed = feed
        self._log = log
        self._checkpoints = checkpoints
        self.guard = CheckpointGuard(checkpoints)
        self.held = HeldGrids(parked if parked is not None else InMemoryParkedEvents())
        self._settings = settings or PublisherSettings()
        self._appends = IntegrationAppends(feed, log, self.held, self._settings.max_batch, requests)
        self._monotonic = monotonic
        self._marks = Watermark(None)
        self._lanes: dict[str, _Lane] = {}
        self._saved: int | None = None
        self._unsaved = 0
        self._saved_at = 0.0
        self._progress = asyncio.Event()
        self._room = asyncio.Event()  # the reader may take more (pending below max_pending)
        self._due = asyncio.Event()  # enough events for a checkpoint save
        self.active = False  # whether this instance holds the lease and publishes

    @property
    def published(self) -> int:
        """Integration events appended (or found already there) by this instance."""
        return self._appends.published

    @property
    def position(self) -> int | None:
        """The store position up to which everything is published."""
        return self._marks.position

    async def wait_for(self, position: int) -> None:
        """Return once everything up to store ``position`` is published (tests, shutdown)."""
        while self.position is None or self.position < position:
            self._progress.clear()
            await self._progress.wait()

    async def run_forever(self) -> None:
        """Publish while this instance holds the lease, until cancelled."""

        def changed(active: bool) -> None:
            self.active = active

        await hold_and_run(
            "publisher",
            self.guard,
            self._publish_while_held,
            self._settings.lease,
            on_change=changed,
        )

    async def _publish_while_held(self) -> None:
        """Resubscribe from the checkpoint after any failure but a lost lease."""
        while True:
            try:
                await self.run()
            except (asyncio.CancelledError, LeaseLostError):
                raise
            except CheckpointUntrustedError as error:  # never skip events: wait for a fix
                self.guard.untrusted(error)
                await asyncio.sleep(self._settings.recheck_delay)
            except StoreUnavailableError as error:  # an outage (a leader change): wait it out
                _raise_if_cancelling()
                _log.warning(
                    "publisher lost the event store; restarting from checkpoint",
                    error=str(error),
                )
                await asyncio.sleep(self._settings.restart_delay)
            except Exception as error:
                _raise_if_cancelling()
                _log.error("publisher failed; restarting from checkpoint", error=repr(error))
                await asyncio.sleep(self._settings.restart_delay)

    async def run(self) -> None:
        """One subscription: load the checkpoint, then publish whatever the feed delivers.

        Takes the lease first if this instance does not hold it yet (``run_forever`` does),
        and raises LeaseLostError if another instance holds it.

        Raises the first failure (feed, append after its retries, checkpoint save); the lanes'
        appends still in flight are cancelled and the checkpoint covers only finished ones.
        CheckpointUntrustedError when the checkpoint is garbage or beyond the store's head.
        """
        if not await self._checkpoints.acquire():
            holder = self._checkpoints.current_holder()
            raise LeaseLostError(f"the publisher's lease is held by {holder}")
        start = await self._checkpoints.load()
        check_start(start, await self._feed.head())
        self.guard.trusted()
        await self.held.load()
        self._marks = Watermark(start)
        self._lanes = {}
        self._saved, self._unsaved, self._saved_at = start, 0, self._monotonic()
        limit = asyncio.Semaphore(self._settings.concurrency)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._checkpointer())
                tasks.create_task(self._releaser(tasks, limit))
                await self._read(start, tasks, limit)
        except BaseExceptionGroup as group:
            for other in group.exceptions[1:]:
                _log.warning("publisher: further failure", error=repr(other))
            raise group.exceptions[0] from None
        finally:
            await self._final_checkpoint()

    async def _read(
        self, start: int | None, tasks: asyncio.TaskGroup, limit: asyncio.Semaphore
    ) -> None:
        """Hand each feed item to its grid's lane; never waits for an append, only for room."""
        async for item in self._feed.subscribe(start):
            while self._marks.pending >= self._settings.max_pending:
                self._room.clear()
                await self._room.wait()
            if isinstance(item, FeedCheckpoint):
                self._covered(self._marks.skip(item.position))
                continue
            if isinstance(item, PoisonEvent):  # parked before the checkpoint can pass it
                await self.held.hold(item)
                self._covered(self._marks.skip(item.commit_position))
                continue
            if item.grid_id in self.held.grids:  # published from the store once released
                self._covered(self._marks.skip(item.position))
                continue
            self._lane(item.grid_id, tasks, limit).waiting.append(
                (item, self._marks.take(item.position))
            )
        _raise_if_cancelling()
        raise PublicationError("the domain event feed ended")

    def _lane(self, grid_id: str, tasks: asyncio.TaskGroup, limit: asyncio.Semaphore) -> _Lane:
        """The grid's lane, with a task draining it (started here when none is)."""
        lane = self._lanes.get(grid_id)
        if lane is None:
            lane = self._lanes[grid_id] = _Lane()
        if not lane.busy:
            lane.busy = True
            tasks.create_task(self._drain(grid_id, lane, limit))
        return lane

    async def _releaser(self, tasks: asyncio.TaskGroup, limit: asyncio.Semaphore) -> None:
        """Read the parked records now and then: a released grid catches up in its lane."""
        while True:
            await asyncio.sleep(self._settings.release_interval)
            for grid_id in await self.held.released():
                self._lane(grid_id, tasks, limit).catch_up = True

    async def _drain(self, grid_id: str, lane: _Lane, limit: asyncio.Semaphore) -> None:
        """Append the lane's events, oldest first, one batch at a time, until it is empty."""
        settings = self._settings
        while lane.waiting or lane.catch_up:
            batch: list[tuple[StoredEvent, Slot]] = []
            attempt = 0
            while True:
                async with limit:
                    if not batch and not lane.catch_up:  # taken once a turn came
                        count = min(settings.max_batch, len(lane.waiting))
                        batch = [lane.waiting.popleft() for _ in range(count)]
                    try:
                        if lane.catch_up:
                            await self._appends.catch_up(grid_id)
                            lane.catch_up = False
                        if batch:
                            await self._appends.append([event for event, _ in batch])
                        break
                    except GridHeldError:
                        lane.catch_up = False
                        batch += lane.waiting
                        lane.waiting.clear()
                        break
                    except PublicationError:
                        raise
                    except Exception as error:
                        attempt += 1
                        if attempt >= settings.append_attempts:
                            raise
                        _log.warning(
                            "integration append failed; retrying",
                            grid_id=grid_id,
                            attempt=attempt,
                            error=repr(error),
                        )
                delay = settings.retry_delay * 2 ** (attempt - 1)
                await asyncio.sleep(min(delay, settings.retry_max_delay))
            for _, slot in batch:
                slot.done = True
            self._covered(self._marks.advance())
        lane.busy = False
        del self._lanes[grid_id]

    def _covered(self, count: int) -> None:
        if not count:
            return
        self._unsaved += count
        # The first position ever covered is saved at once, not at the next period: until a
        # checkpoint exists, admin status can only say "catching up" from the very start.
        if self._saved is None or self._unsaved >= self._settings.checkpoint_every:
            self._due.set()
        self._room.set()
        self._progress.set()

    async def _checkpointer(self) -> None:
        """Save the mark every ``checkpoint_every`` events or ``checkpoint_interval`` seconds."""
        settings = self._settings
        while True:
            left = self._saved_at + settings.checkpoint_interval - self._monotonic()
            with contextlib.suppress(TimeoutError):
                # not asyncio.wait_for: on 3.11 it can swallow a cancellation that arrives
                # as the event is set, and the task group would wait for this task forever
                async with asyncio.timeout(max(left, 0.0)):
                    await self._due.wait()
            self._due.clear()
            await self._save()
            self._saved_at = self._monotonic()

    async def _save(self) -> None:
        position = self._marks.position
        if position is None or position == self._saved:
            return
        unsaved = self._unsaved
        await self._checkpoints.save(position)
        self._saved = position
        self._unsaved -= unsaved

    async def _final_checkpoint(self) -> None:
        try:
            await asyncio.shield(self._save())
        except Exception as error:  # the next run replays a little more; harmless
            _log.warning("final checkpoint not saved", error=repr(error))
