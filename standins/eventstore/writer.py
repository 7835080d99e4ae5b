"""The single writer (``StoreWriter``): appends, deletes and tombstones, group-committed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from standins.eventstore.metrics import StoreMetrics
from standins.eventstore.storage import SqliteEventLog
from standins.eventstore.versioning import StoreError, StreamDeletedError, WrongExpectedVersionError
from standins.eventstore.write_apply import NewEvent, WriteApplier, WriteKind, WriteResult
from standins.eventstore.write_view import WriteView

__all__ = ["NewEvent", "StoreWriter", "WriteResult"]

_log = structlog.get_logger("eventstore.writer")
_MAX_GROUP = 2000


@dataclass(slots=True)
class _Op:
    kind: WriteKind
    stream: str
    expected: int
    events: Sequence[NewEvent]
    future: asyncio.Future[WriteResult] | None = field(repr=False)  # None: committed inline


class StoreWriter:
    """The one writer of a ``SqliteEventLog`` (start it, then await its write methods).

    Writes arriving concurrently are queued; the writer takes everything queued, checks and
    inserts each write in order inside ONE transaction, commits (an fsync with
    ``synchronous=FULL``), then advances the log's head, wakes subscribers and answers every
    waiting caller. A write is all of its rows or none: it is validated completely before its
    first insert, and a failure of the transaction fails the whole group.

    A lone write (no other write call in progress, nothing queued, no commit running) skips the
    queue: it is checked, inserted and committed inline in its caller's coroutine, without the
    two event-loop hops of the queue and the reply future. Checks and inserts are
    ``WriteApplier``'s; the stream state and metadata they read are cached by ``WriteView``.
    """

    def __init__(self, log: SqliteEventLog, metrics: StoreMetrics | None = None) -> None:
        self._log = log
        self._metrics = metrics
        self._conn = log.conn
        self._queue: asyncio.Queue[_Op | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # the writer task is committing a group
        self._stopping = False
        self._callers = 0  # write calls in progress (see ``enter``)
        self._view = WriteView(log.conn)  # includes this transaction's inserts
        self._applier = WriteApplier(log, self._view)
        self.groups = 0  # statistics: committed transactions

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="eventstore-writer")

    async def stop(self) -> None:
        """Finish every write queued so far, then stop."""
        if self._task is None:
            return
        self._stopping = True
        await self._queue.put(None)
        await self._task
        self._task = None

    def enter(self) -> None:
        """A write call has begun (its requests may still be arriving); pair with ``leave``.

        While more than one call is in progress, writes go through the queue so that they
        can share a commit; a lone call commits inline.
        """
        self._callers += 1

    def leave(self, calls: int = 1) -> None:
        """``calls`` write calls begun with ``enter`` have ended."""
        self._callers -= calls

    async def append(self, stream: str, expected: int, events: Sequence[NewEvent]) -> WriteResult:
        """Append ``events`` atomically; raise a ``StoreError`` when refused."""
        if self._metrics is None:
            return await self._submit("append", stream, expected, events)
        try:
            result = await self._submit("append", stream, expected, events)
        except WrongExpectedVersionError:
            self._metrics.appended("wrong_expected_version")
            raise
        except StreamDeletedError:
            self._metrics.appended("stream_deleted")
            raise
        except Exception:
            self._metrics.appended("error")
            raise
        self._metrics.appended("success", len(events))
        return result

    async def delete(self, stream: str, expected: int) -> WriteResult:
        """Soft-delete ``stream`` (``$tb`` = max in its metadata)."""
        return await self._submit("delete", stream, expected, ())

    async def tombstone(self, stream: str, expected: int) -> WriteResult:
        """Hard-delete ``stream`` for ever."""
        return await self._submit("tombstone", stream, expected, ())

    async def _submit(
        self,
        kind: WriteKind,
        stream: str,
        expected: int,
        events: Sequence[NewEvent],
    ) -> WriteResult:
        if self._task is None or self._stopping:
            raise RuntimeError("the store writer is not running")
        if self._callers <= 1 and not self._busy and self._queue.empty():
            # Nobody to share a commit with: write now, without a hop to the writer task and
            # back. Nothing here awaits, so no other write can interleave.
            return self._commit_lone(_Op(kind, stream, expected, events, None))
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Op(kind, stream, expected, events, future))
        # A caller that goes away only cancels its future: the queued write itself still
        # happens (the writer skips answering a done future), so cancellation never splits it.
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < _MAX_GROUP and not self._queue.empty():
                op = self._queue.get_nowait()
                if op is None:
                    stopping = True
                    break
                group.append(op)
            self._busy = True
            try:
                await self._commit(group)
            finally:
                self._busy = False

    async def _commit(self, group: list[_Op]) -> None:
        outcomes: list[WriteResult | BaseException]
        try:
            outcomes = self._write(group)
            if self._log.reader is self._conn or len(group) == 1:
                # In memory there is no fsync; a lone write has nobody to overlap with, and
                # committing inline saves the thread hop's latency.
                self._commit_now()
            else:
                # The fsync runs in a thread (ONE hop per group, not per call) so the loop keeps
                # parsing the next group's requests meanwhile. Readers use their own connection
                # and never look past `head`, which only moves after this returns.
                await asyncio.to_thread(self._commit_now)
        except Exception as error:  # the whole group fails; nothing of it is visible
            self._rollback(len(group))
            outcomes = [error] * len(group)
        else:
            self._committed()
        for op, outcome in zip(group, outcomes, strict=True):
            if op.future is None or op.future.done():
                continue
            if isinstance(outcome, BaseException):
                op.future.set_exception(outcome)
            else:
                op.future.set_result(outcome)

    def _commit_lone(self, op: _Op) -> WriteResult:
        try:
            outcome = self._write([op])[0]
            self._commit_now()
        except Exception:
            self._rollback(1)
            raise
        self._committed()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _commit_now(self) -> None:
        """COMMIT (the fsync when durable), timed for ``eventstore_fsync_seconds``."""
        if self._metrics is None:
            self._conn.execute("COMMIT")
            return
        began = time.perf_counter()
        self._conn.execute("COMMIT")
        self._metrics.fsync.observe(time.perf_counter() - began)

    def _write(self, group: list[_Op]) -> list[WriteResult | BaseException]:
        """BEGIN, then check and insert every write of ``group`` (StoreErrors are outcomes)."""
        outcomes: list[WriteResult | BaseException] = []
        self._applier.next_position = self._log.end
        self._conn.execute("BEGIN IMMEDIATE")
        for op in group:
            try:
                outcomes.append(self._applier.apply(op.kind, op.stream, op.expected, op.events))
            except StoreError as error:
                outcomes.append(error)
        return outcomes

    def _rollback(self, writes: int) -> None:
        _log.exception("commit_failed", writes=writes)
        self._view.forget()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _committed(self) -> None:
        self.groups += 1
        if self._applier.next_position > self._log.end:
            self._log.committed(self._applier.last_position, self._applier.next_position)
