"""Reliable publication: every stored domain event becomes exactly one integration event.

The publisher follows a checkpointed catch-up subscription of the domain streams and appends
each event's envelope to its grid's integration stream at revision ``sequence - 1``, with an
event id derived from the domain event's id. A replay after a crash re-appends the same ids at
the same places, which the store accepts as a no-op: nothing is lost (the checkpoint is saved
only after the appends it covers), nothing is published that was not stored (the source is the
store itself), per-grid order holds (revisions are sequences) and duplicates are harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.command.application.errors import ConcurrencyError, PublicationError
from services.command.application.executor import stored_envelope
from services.command.application.ports import (
    CheckpointStore,
    DomainEventFeed,
    FeedCheckpoint,
    FeedItem,
    IntegrationLog,
    StoredEvent,
)
from services.common.envelope import Envelope
from services.common.logs import get_logger

__all__ = ["Publisher", "PublisherSettings"]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PublisherSettings:
    """Batching and checkpointing of the publisher."""

    max_batch: int = 500  # events taken from the feed per round
    checkpoint_every: int = 1_000  # save the checkpoint after this many events ...
    checkpoint_interval: float = 1.0  # ... or this many seconds, whichever comes first
    restart_delay: float = 0.5  # after a failure (store down), before resubscribing


class Publisher:
    """Maps the domain event feed into integration streams; run it as a background task."""

    def __init__(
        self,
        feed: DomainEventFeed,
        log: IntegrationLog,
        checkpoints: CheckpointStore,
        settings: PublisherSettings | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._feed = feed
        self._log = log
        self._checkpoints = checkpoints
        self._settings = settings or PublisherSettings()
        self._monotonic = monotonic
        self._position: int | None = None  # last position handled (published or skipped)
        self._saved: int | None = None
        self._unsaved = 0
        self._saved_at = 0.0
        self.published = 0  # integration events appended (or found already there)
        self._progress = asyncio.Event()

    @property
    def position(self) -> int | None:
        """The store position up to which everything is published."""
        return self._position

    async def wait_for(self, position: int) -> None:
        """Return once everything up to store ``position`` is published (tests, shutdown)."""
        while self._position is None or self._position < position:
            self._progress.clear()
            await self._progress.wait()

    async def run_forever(self) -> None:
        """Publish until cancelled, resubscribing from the checkpoint after any failure."""
        while True:
            try:
                await self.run()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                _log.error("publisher failed; restarting from checkpoint", error=repr(error))
                await asyncio.sleep(self._settings.restart_delay)

    async def run(self) -> None:
        """One subscription: load the checkpoint, then publish whatever the feed delivers."""
        self._position = self._saved = await self._checkpoints.load()
        self._saved_at = self._monotonic()
        queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=self._settings.max_batch * 4)
        reader = asyncio.create_task(self._read(queue))
        try:
            while True:
                items = [await self._next(queue, reader)]
                while len(items) < self._settings.max_batch and not queue.empty():
                    items.append(queue.get_nowait())
                await self._publish(items)
                await self._maybe_checkpoint()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._final_checkpoint()

    async def _read(self, queue: asyncio.Queue[FeedItem]) -> None:
        async for item in self._feed.subscribe(self._position):
            await queue.put(item)

    @staticmethod
    async def _next(queue: asyncio.Queue[FeedItem], reader: asyncio.Task[None]) -> FeedItem:
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        reader.result()  # the feed failed: raise its error
        raise PublicationError("the domain event feed ended")

    async def _publish(self, items: Sequence[FeedItem]) -> None:
        run: list[StoredEvent] = []
        for item in items:
            if isinstance(item, FeedCheckpoint):
                continue
            if run and run[-1].grid_id != item.grid_id:
                await self._append(run)
                run = []
            run.append(item)
        if run:
            await self._append(run)
        self._position = items[-1].position
        self._unsaved += len(items)
        self._progress.set()

    async def _append(self, run: Sequence[StoredEvent]) -> None:
        grid_id = run[0].grid_id
        envelopes = [stored_envelope(s) for s in run]
        try:
            await self._log.append(grid_id, envelopes)
        except ConcurrencyError:
            await self._reconcile(grid_id, envelopes)
        self.published += len(envelopes)

    async def _reconcile(self, grid_id: str, envelopes: Sequence[Envelope]) -> None:
        """After a replay: skip what is already published (checked by id), append the rest."""
        first = envelopes[0].sequence
        last = await self._log.last_sequence(grid_id)
        existing = (
            await self._log.event_ids(grid_id, first - 1, len(envelopes)) if last >= first else []
        )
        overlap = len(existing)
        if last < first - 1 or any(
            e.event_id != found for e, found in zip(envelopes, existing, strict=False)
        ):
            # Not a replay: something else wrote there, or events went missing. A bug.
            _log.critical(
                "integration stream diverges from the domain stream",
                grid_id=grid_id,
                first_sequence=first,
                integration_last_sequence=last,
            )
            raise PublicationError(f"integration-{grid_id} diverges at sequence {first}")
        _log.info("republished events were already there", grid_id=grid_id, skipped=overlap)
        rest = envelopes[overlap:]
        if rest:
            await self._log.append(grid_id, rest)

    async def _maybe_checkpoint(self) -> None:
        settings = self._settings
        due = self._unsaved >= settings.checkpoint_every or (
            self._unsaved and self._monotonic() - self._saved_at >= settings.checkpoint_interval
        )
        if due:
            await self._save()

    async def _save(self) -> None:
        if self._position is None or self._position == self._saved:
            return
        await self._checkpoints.save(self._position)
        self._saved = self._position
        self._unsaved = 0
        self._saved_at = self._monotonic()

    async def _final_checkpoint(self) -> None:
        try:
            await asyncio.shield(self._save())
        except Exception as error:  # the next run replays a little more; harmless
            _log.warning("final checkpoint not saved", error=repr(error))
