"""Appending a grid's domain events to its integration stream: the one way the publisher
publishes, whether the events came from the feed or from the grid's domain stream.

An append at the stream's end succeeds; after a replay the events already there are found
by id and skipped; an integration stream behind (a grid released while no publisher ran) is
first brought up to the batch from the domain stream; one where another writer took a place
(a forged event) has its event parked and is held. The requests of each run are logged
(``requests``) before its events are published. Published from the domain stream, a
grid that meets a poison event there has it parked and is held (GridHeldError).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.command.application.errors import ConcurrencyError
from services.command.application.executor import stored_envelope
from services.command.application.ports import DomainEventFeed, IntegrationLog, StoredEvent
from services.command.application.publisher_poison import HeldGrids
from services.command.application.request_log import RequestLog, requests_of
from services.common.envelope import Envelope, integration_stream
from services.common.logs import get_logger
from services.common.parked import PoisonEvent, PoisonEventError

__all__ = ["GridHeldError", "IntegrationAppends"]

_log = get_logger(__name__)


class GridHeldError(Exception):
    """A grid met a poison event while published from its domain stream: it is held now."""


def _diverged(grid_id: str, envelope: Envelope, last: int) -> PoisonEvent:
    """The parked record of a domain event whose place in the integration stream is taken by
    an event the publisher did not write (or lies beyond a gap)."""
    return PoisonEvent(
        stream=integration_stream(grid_id),
        revision=envelope.sequence - 1,
        commit_position=0,
        event_id=str(envelope.event_id),
        event_type=type(envelope.event).__name__,
        grid_id=grid_id,
        reason=(
            f"integration-{grid_id} diverges at sequence {envelope.sequence} (its last is "
            f"{last}): an event there was not written by the publisher"
        ),
    )


class IntegrationAppends:
    """Appends runs of one grid's events to its integration stream (see the module)."""

    def __init__(
        self,
        feed: DomainEventFeed,
        log: IntegrationLog,
        held: HeldGrids,
        max_batch: int,
        requests: RequestLog | None = None,
    ) -> None:
        self._feed = feed
        self._log = log
        self._requests = requests
        self._held = held
        self._max_batch = max_batch
        self.published = 0  # integration events appended (or found already there)

    async def catch_up(self, grid_id: str) -> None:
        """Publish the grid's events after its integration stream's end (a released grid)."""
        await self._from_store(grid_id, await self._log.last_sequence(grid_id))

    async def _record_requests(self, grid_id: str, run: Sequence[StoredEvent]) -> None:
        """Log the run's requests before its events are published: a published sequence
        then vouches that every request up to it is logged (application/request_log.py)."""
        if self._requests is not None and (requests := requests_of(run)):
            await self._requests.record(grid_id, requests)

    async def append(self, run: Sequence[StoredEvent]) -> None:
        grid_id = run[0].grid_id
        await self._record_requests(grid_id, run)
        envelopes = [stored_envelope(s) for s in run]
        try:
            await self._log.append(grid_id, envelopes)
        except ConcurrencyError:
            await self._reconcile(grid_id, envelopes)
        self.published += len(envelopes)

    async def _reconcile(self, grid_id: str, envelopes: Sequence[Envelope]) -> None:
        """After a replay: skip what is already published (checked by id), append the rest.
        Behind (a grid released while no publisher ran): publish the missing events first."""
        first = envelopes[0].sequence
        last = await self._log.last_sequence(grid_id)
        if last < first - 1:
            _log.warning(
                "integration stream behind the feed; publishing from the domain stream",
                grid_id=grid_id,
                integration_last_sequence=last,
                first_sequence=first,
            )
            last = await self._from_store(grid_id, last, until=first - 1)
        existing = (
            await self._log.event_ids(grid_id, first - 1, len(envelopes)) if last >= first else []
        )
        overlap = len(existing)
        if last < first - 1 or any(
            e.event_id != found for e, found in zip(envelopes, existing, strict=False)
        ):
            # Not a replay: something else wrote there (a forged event), or events went
            # missing. The grid is held (its event parked) and the other grids go on.
            _log.critical(
                "integration stream diverges from the domain stream",
                grid_id=grid_id,
                first_sequence=first,
                integration_last_sequence=last,
            )
            await self._held.hold(_diverged(grid_id, envelopes[0], last))
            raise GridHeldError(grid_id)
        _log.info("republished events were already there", grid_id=grid_id, skipped=overlap)
        rest = envelopes[overlap:]
        if rest:
            await self._log.append(grid_id, rest)

    async def _from_store(self, grid_id: str, after: int, until: int | None = None) -> int:
        """Publish the grid's domain events after sequence ``after`` (up to ``until``, None:
        to the end of its stream); the last sequence published. At a poison event: the
        events before it are published, it is parked, and GridHeldError is raised."""
        while until is None or after < until:
            count = self._max_batch if until is None else until - after
            poison: PoisonEvent | None = None
            try:
                found = await self._feed.read_grid(grid_id, after, min(count, self._max_batch))
            except PoisonEventError as error:
                found = [e for e in error.before if isinstance(e, StoredEvent)]
                poison = error.poison
            if found:
                await self._record_requests(grid_id, found)
                await self._log.append(grid_id, [stored_envelope(e) for e in found])
                self.published += len(found)
                after = found[-1].version
            if poison is not None:
                await self._held.hold(poison)
                raise GridHeldError(grid_id)
            if not found:
                break
        return after
