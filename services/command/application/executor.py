"""The load-decide-append loop every command goes through: retries, idempotency, results."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from domain.errors import DomainError, ErrorCategory, GridAlreadyExistsError, GridNotFoundError
from domain.events import GridCreated, RoverBlocked
from domain.grid import CommandOutcome, Grid
from domain.state import rover_after
from domain.values import MAX_REQUEST_ID_LENGTH, GridId
from services.command.application.commands import AnyCommand, CommandResult, fingerprint
from services.command.application.errors import (
    CommandAbortedError,
    ConcurrencyError,
    InvalidRequestIdError,
    RequestIdReusedError,
)
from services.command.application.off_loop import is_large, off_loop
from services.command.application.ports import (
    Clock,
    EventMetadata,
    EventStore,
    IdGenerator,
    PendingEvent,
    RequestRecord,
    StoredEvent,
)
from services.command.application.repository import GridRepository, LoadedGrid, RequestWindow
from services.command.application.request_log import RequestLookup
from services.common import tracing
from services.common.envelope import Envelope, integration_event_id
from services.common.logs import get_logger

__all__ = ["CommandExecutor", "RetryPolicy", "check_request_id", "stored_envelope"]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often to decide again after a version conflict, and how long to wait between."""

    # 16 tries with a 1 s ceiling wait about 3 s in all: long enough to outlast another
    # instance's burst on the grid (tests/integration/command/test_instance_race.py).
    max_attempts: int = 16
    base_delay: float = 0.002  # seconds; doubled per retry from the second, full jitter
    max_delay: float = 1.0

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """None before the first retry (it starts from a fresh tail), then full jitter.

        The jitter spreads racing writers so that they stop colliding in lockstep.
        """
        if attempt <= 1:
            return 0.0
        return draw() * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))


def check_request_id(request_id: str) -> None:
    """INVALID_ARGUMENT for a request_id that cannot be stored and compared safely."""
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise InvalidRequestIdError(
            f"request_id is {len(request_id)} characters long; at most "
            f"{MAX_REQUEST_ID_LENGTH} are allowed"
        )
    if not request_id.isprintable():
        raise InvalidRequestIdError("request_id must not contain control characters")


def _loading(grid_id: GridId) -> contextlib.AbstractContextManager[object]:
    """The span of reading a grid from the store (a warm cache entry needs none)."""
    return tracing.span("rover.grid.load", {"rover.grid_id": grid_id})


Decide = Callable[[Grid], CommandOutcome]
Create = Callable[[], Grid]


class CommandExecutor:
    """Runs one command on one grid: load, decide, append with the loaded version, answer.

    A conflict evicts the cached grid, waits a jittered moment and decides again on the fresh
    state, at most ``retry.max_attempts`` times, then CommandAbortedError. A request_id already
    applied to the grid returns the original result rebuilt from the stored events: found in
    the grid's request window, or, once the window forgot it, in the request log
    (``requests``, application/request_log.py) within its retention period.
    """

    def __init__(
        self,
        repository: GridRepository,
        events: EventStore,
        clock: Clock,
        ids: IdGenerator,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        requests: RequestLookup | None = None,
    ) -> None:
        self._repository = repository
        self.requests = requests  # the durable request log, behind the window (None: none)
        self._events = events
        self._clock = clock
        self._ids = ids
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        # Plain counters for the metrics endpoint (read at scrape time by the bootstrap's).
        self.appends = 0  # successful appends
        self.conflicts = 0  # appends refused for a wrong expected version
        self.retries = 0  # decisions made again after a conflict
        self.aborted = 0  # commands given up after max_attempts conflicts (ABORTED)

    async def run(
        self,
        grid_id: GridId,
        command: AnyCommand,
        *,
        decide: Decide | None = None,
        create: Create | None = None,
    ) -> CommandResult:
        """Apply ``decide`` to the existing grid, or ``create`` a new one."""
        check_request_id(command.request_id)
        digest = (
            await off_loop(lambda: fingerprint(command), large=is_large((command,)))
            if command.request_id
            else ""
        )
        # The conversation's id and the command's: the request's id, or one made for it.
        command_id = command.request_id or str(self._ids.event_id())
        repository = self._repository
        attempt = 0
        async with repository.locked(grid_id):
            loaded = repository.cached(grid_id)
            fresh = loaded is None
            tracing.annotate("rover.grid.cached", not fresh)  # on the call's span
            if loaded is None:
                with _loading(grid_id):
                    loaded = await repository.load(grid_id)
            while True:
                # Where a retry can start from without a full load (the aggregate gets dirty).
                base = None
                if loaded is not None and (attempt or repository.contended(loaded)):
                    base = loaded.grid.snapshot()
                try:
                    return await self._attempt(
                        grid_id,
                        command,
                        command_id=command_id,
                        digest=digest,
                        loaded=loaded,
                        decide=decide,
                        create=create,
                    )
                except ConcurrencyError:
                    attempt += 1
                    self.conflicts += 1
                    _log.debug("grid write conflicted", grid_id=grid_id, attempt=attempt)
                    if attempt >= self._retry.max_attempts:
                        self.aborted += 1
                        raise CommandAbortedError(grid_id, attempt) from None
                    self.retries += 1
                    await self._sleep(self._retry.delay(attempt))
                    with _loading(grid_id):
                        if loaded is not None and base is not None:
                            loaded = await repository.catch_up(grid_id, loaded, base)
                        else:
                            loaded = await repository.load(grid_id)
                    if loaded is not None:
                        repository.other_writer_seen(loaded)
                    fresh = True
                except DomainError as error:
                    # Malformed input is wrong whatever the state; other answers may be stale.
                    if fresh or error.category is ErrorCategory.INVALID_ARGUMENT:
                        raise
                    # The cached grid may be behind another writer: answer from fresh state.
                    repository.evict(grid_id)
                    with _loading(grid_id):
                        loaded = await repository.load(grid_id)
                    fresh = True

    async def _attempt(
        self,
        grid_id: GridId,
        command: AnyCommand,
        *,
        command_id: str,
        digest: str,
        loaded: LoadedGrid | None,
        decide: Decide | None,
        create: Create | None,
    ) -> CommandResult:
        if loaded is not None and command.request_id:
            record = loaded.requests.get(command.request_id)
            if record is None and self.requests is not None and loaded.requests.full:
                record = await self.requests.find(grid_id, command.request_id, loaded.requests)
            if record is not None:
                if record.fingerprint != digest:
                    raise RequestIdReusedError(grid_id, command.request_id, record.command)
                return await self._replay(grid_id, record)
        outcome: CommandOutcome | None = None
        if create is not None:
            if loaded is not None:
                raise GridAlreadyExistsError(grid_id)
            loaded = LoadedGrid(create(), RequestWindow(self._repository_window()))
        else:
            if loaded is None:
                raise GridNotFoundError(grid_id)
            assert decide is not None
            outcome = decide(loaded.grid)
        return await self._store(
            grid_id, command, command_id=command_id, digest=digest, loaded=loaded, outcome=outcome
        )

    def _repository_window(self) -> int:
        return self._repository.request_window

    async def _store(
        self,
        grid_id: GridId,
        command: AnyCommand,
        *,
        command_id: str,
        digest: str,
        loaded: LoadedGrid,
        outcome: CommandOutcome | None,
    ) -> CommandResult:
        grid = loaded.grid
        before = grid.version
        # The events name this span ($traceId/$spanId): their consumers continue from it.
        with tracing.span(
            "rover.grid.append",
            {"rover.grid_id": grid_id, "rover.grid.expected_version": before},
            kind=tracing.SpanKind.CLIENT,
        ):
            metadata = EventMetadata(
                occurred_at=self._clock.now(),
                command=type(command).__name__,
                request_id=command.request_id,
                fingerprint=digest,
                correlation_id=command_id,
                causation_id=command_id,
                trace=tracing.current_parent(),
            )
            pending = [
                PendingEvent(event_id=self._ids.event_id(), event=e, metadata=metadata)
                for e in grid.changes
            ]
            try:
                await self._events.append(grid_id, before, pending)
                self.appends += 1
            except BaseException:
                # Conflict, outage or cancellation: the outcome may be unknown, the aggregate
                # holds undecided changes. Either way only a reload can be trusted.
                self._repository.evict(grid_id)
                raise
        grid.clear_changes()
        for offset, event in enumerate(pending, start=before + 1):
            loaded.requests.observe(offset, event.metadata)
        self._repository.stored(grid_id, loaded, before)
        envelopes = _envelopes(grid_id, before, pending)
        if outcome is None:
            return CommandResult(grid_id=grid_id, version=grid.version, events=envelopes)
        return CommandResult(
            grid_id=grid_id,
            version=grid.version,
            events=envelopes,
            rover=outcome.rover,
            block=outcome.blocked,
        )

    async def _replay(self, grid_id: GridId, record: RequestRecord) -> CommandResult:
        stored = await self._repository.events_between(
            grid_id, record.first_version, record.last_version
        )
        envelopes = tuple(stored_envelope(s) for s in stored)
        last = stored[-1].event if stored else None
        rover = None if last is None or isinstance(last, GridCreated) else rover_after(last)
        return CommandResult(
            grid_id=grid_id,
            version=record.last_version,
            events=envelopes,
            rover=rover,
            block=last if isinstance(last, RoverBlocked) else None,
            replayed=True,
        )


def _envelopes(
    grid_id: GridId, before: int, pending: Sequence[PendingEvent]
) -> tuple[Envelope, ...]:
    return tuple(
        Envelope(
            event_id=integration_event_id(p.event_id),
            grid_id=grid_id,
            sequence=before + index,
            occurred_at=p.metadata.occurred_at,
            event=p.event,
        )
        for index, p in enumerate(pending, start=1)
    )


def stored_envelope(stored: StoredEvent) -> Envelope:
    """The integration envelope of a stored domain event (what the publisher appends): the
    same conversation, caused by the domain event, in the trace of the span that stored it."""
    return Envelope(
        event_id=integration_event_id(stored.event_id),
        grid_id=GridId(stored.grid_id),
        sequence=stored.version,
        occurred_at=stored.metadata.occurred_at,
        event=stored.event,
        correlation_id=stored.metadata.correlation_id,
        causation_id=str(stored.event_id),
        trace=stored.metadata.trace,
    )
