"""The single writer: appends, deletes and tombstones, group-committed on the event loop.

Writes arriving concurrently are queued; the writer takes everything queued, checks and inserts
each write in order inside ONE transaction, commits (an fsync with ``synchronous=FULL``), then
advances the log's head, wakes subscribers and answers every waiting caller. A write is all of
its rows or none: it is validated completely before its first insert, and a failure of the
transaction fails the whole group.

A lone write (no other write call in progress, nothing queued, no commit running) skips the
queue: it is checked, inserted and committed inline in its caller's coroutine, without the two
event-loop hops of the queue and the reply future. The writer also keeps the state and metadata
of recently written streams, so a write to a known stream needs one look-up (its event ids)
instead of three; the cache follows every insert and is dropped when a transaction fails.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import structlog

from services.eventstore.storage import (
    DELETED_REVISION,
    SOFT_DELETED_TB,
    SqliteEventLog,
    StreamMeta,
    is_metastream,
    metastream_of,
    now_ticks,
)
from services.eventstore.versioning import (
    AppendCheck,
    StoreError,
    WrongExpectedVersionError,
    check_append,
)

__all__ = ["NewEvent", "StoreWriter", "WriteResult"]

_log = structlog.get_logger("eventstore.writer")
_MAX_GROUP = 2000
_MAX_CACHED_STREAMS = 10_000
_T = TypeVar("_T")
_INSERT = (
    "INSERT INTO events (pos, stream, revision, event_id, type, is_json, data, metadata, created)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event proposed by a client."""

    event_id: str
    type: str
    is_json: bool
    data: bytes
    metadata: bytes = b""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of a successful write: the stream's last event number and the $all position."""

    revision: int
    position: int


@dataclass(slots=True)
class _Op:
    kind: Literal["append", "delete", "tombstone"]
    stream: str
    expected: int
    events: Sequence[NewEvent]
    future: asyncio.Future[WriteResult] | None = field(repr=False)  # None: committed inline


class StoreWriter:
    """The one writer of a ``SqliteEventLog`` (start it, then await its write methods)."""

    def __init__(self, log: SqliteEventLog) -> None:
        self._log = log
        self._conn = log.conn
        self._queue: asyncio.Queue[_Op | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._next = 0
        self._busy = False  # the writer task is committing a group
        self._stopping = False
        self._callers = 0  # write calls in progress (see ``enter``)
        # Writer-view caches (they include this transaction's inserts; cleared on rollback):
        self._states: dict[str, tuple[int, bool, int]] = {}  # stream -> _state()
        self._metas: dict[str, tuple[StreamMeta, bool]] = {}  # stream -> _meta()
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
        return await self._submit("append", stream, expected, events)

    async def delete(self, stream: str, expected: int) -> WriteResult:
        """Soft-delete ``stream`` (``$tb`` = max in its metadata)."""
        return await self._submit("delete", stream, expected, ())

    async def tombstone(self, stream: str, expected: int) -> WriteResult:
        """Hard-delete ``stream`` for ever."""
        return await self._submit("tombstone", stream, expected, ())

    async def _submit(
        self,
        kind: Literal["append", "delete", "tombstone"],
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
                self._conn.execute("COMMIT")
            else:
                # The fsync runs in a thread (ONE hop per group, not per call) so the loop keeps
                # parsing the next group's requests meanwhile. Readers use their own connection
                # and never look past `head`, which only moves after this returns.
                await asyncio.to_thread(self._conn.execute, "COMMIT")
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
            self._conn.execute("COMMIT")
        except Exception:
            self._rollback(1)
            raise
        self._committed()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _write(self, group: list[_Op]) -> list[WriteResult | BaseException]:
        """BEGIN, then check and insert every write of ``group`` (StoreErrors are outcomes)."""
        outcomes: list[WriteResult | BaseException] = []
        self._next = self._log.head + 1
        self._conn.execute("BEGIN IMMEDIATE")
        for op in group:
            try:
                outcomes.append(self._apply(op))
            except StoreError as error:
                outcomes.append(error)
        return outcomes

    def _rollback(self, writes: int) -> None:
        _log.exception("commit_failed", writes=writes)
        self._states.clear()
        self._metas.clear()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _committed(self) -> None:
        self.groups += 1
        if self._next - 1 > self._log.head:
            self._log.committed(self._next - 1)

    # ----------------------------------------------------------------- one write
    def _apply(self, op: _Op) -> WriteResult:
        last, tombstoned, last_pos = self._state(op.stream)
        meta, has_meta = self._meta(op.stream)
        if op.kind == "delete" and not tombstoned and last < 0 and not meta.soft_deleted:
            raise WrongExpectedVersionError(op.stream, op.expected, -1)
        ids = [e.event_id for e in op.events] if op.kind == "append" else [str(uuid.uuid4())]
        check = AppendCheck(
            stream=op.stream,
            last=last,
            tombstoned=tombstoned,
            soft_deleted=meta.soft_deleted,
            has_metadata=has_meta,
            at_revision=lambda revision: self._at_revision(op.stream, revision),
            find_id=lambda event_id: self._find_id(op.stream, event_id),
        )
        idempotent = check_append(check, op.expected, ids)
        if idempotent is not None:
            return WriteResult(idempotent.revision, idempotent.position)
        if op.kind == "delete":
            position = self._insert_meta(op.stream, {"$tb": SOFT_DELETED_TB})
            return WriteResult(last, position)
        if op.kind == "tombstone":
            position = self._insert(op.stream, DELETED_REVISION, "$streamDeleted", data=b"")
            return WriteResult(last, position)
        if not op.events:
            return WriteResult(last, last_pos if last >= 0 else self._log.head)
        first, created = self._next, now_ticks()
        self._next += len(op.events)
        self._conn.executemany(
            _INSERT,
            [
                (
                    first + offset,
                    op.stream,
                    last + 1 + offset,
                    event.event_id,
                    event.type,
                    int(event.is_json),
                    event.data,
                    event.metadata,
                    created,
                )
                for offset, event in enumerate(op.events)
            ],
        )
        position = self._next - 1
        self._wrote(op.stream, last + len(op.events), position)
        if meta.soft_deleted and not is_metastream(op.stream):
            self._insert_meta(op.stream, {**meta.raw, "$tb": last + 1})
        elif is_metastream(op.stream):
            self._undelete_after_meta_write(op.stream[2:])
        return WriteResult(last + len(op.events), position)

    def _undelete_after_meta_write(self, stream: str) -> None:
        # A metadata write on a soft-deleted stream that does not itself soft-delete it
        # re-creates the stream: truncate before the next revision instead.
        meta, _ = self._meta(stream)
        if meta.soft_deleted:
            return
        previous_row = self._conn.execute(
            "SELECT data FROM events WHERE stream = ? AND revision < ? "
            "ORDER BY revision DESC LIMIT 1 OFFSET 1",
            (metastream_of(stream), DELETED_REVISION),
        ).fetchone()
        if previous_row is None or not StreamMeta.parse(previous_row[0]).soft_deleted:
            return
        last = self._state(stream)[0]
        self._insert_meta(stream, {**meta.raw, "$tb": last + 1})

    def _insert_meta(self, stream: str, raw: dict[str, object]) -> int:
        metastream = metastream_of(stream)
        last = self._state(metastream)[0]
        data = json.dumps(raw, separators=(",", ":")).encode()
        return self._insert(metastream, last + 1, "$metadata", data=data)

    def _insert(
        self,
        stream: str,
        revision: int,
        type_: str,
        *,
        is_json: bool = True,
        data: bytes,
        metadata: bytes = b"",
        event_id: str | None = None,
    ) -> int:
        position = self._next
        self._next += 1
        self._conn.execute(
            _INSERT,
            (
                position,
                stream,
                revision,
                event_id or str(uuid.uuid4()),
                type_,
                int(is_json),
                data,
                metadata,
                now_ticks(),
            ),
        )
        self._wrote(stream, revision, position)
        return position

    def _wrote(self, stream: str, revision: int, position: int) -> None:
        """Keep the caches right after inserting ``revision`` of ``stream`` at ``position``."""
        if revision == DELETED_REVISION:
            last, _, last_pos = self._state(stream)
            self._remember(self._states, stream, (last, True, last_pos))
        else:
            self._remember(self._states, stream, (revision, False, position))
        if is_metastream(stream):
            self._metas.pop(stream[2:], None)

    # ----------------------------------------------------------------- writer-view queries
    @staticmethod
    def _remember(cache: dict[str, _T], stream: str, value: _T) -> None:
        if stream not in cache and len(cache) >= _MAX_CACHED_STREAMS:
            del cache[next(iter(cache))]  # the oldest entry
        cache[stream] = value

    def _state(self, stream: str) -> tuple[int, bool, int]:
        cached = self._states.get(stream)
        if cached is not None:
            return cached
        rows = self._conn.execute(
            "SELECT revision, pos FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 2",
            (stream,),
        ).fetchall()
        tombstoned = bool(rows) and rows[0][0] == DELETED_REVISION
        live = [r for r in rows if r[0] != DELETED_REVISION]
        state = (live[0][0], tombstoned, live[0][1]) if live else (-1, tombstoned, 0)
        self._remember(self._states, stream, state)
        return state

    def _meta(self, stream: str) -> tuple[StreamMeta, bool]:
        cached = self._metas.get(stream)
        if cached is not None:
            return cached
        row = self._conn.execute(
            "SELECT data FROM events WHERE stream = ? AND revision < ? "
            "ORDER BY revision DESC LIMIT 1",
            (metastream_of(stream), DELETED_REVISION),
        ).fetchone()
        meta = StreamMeta.parse(row[0] if row else None), row is not None
        self._remember(self._metas, stream, meta)
        return meta

    def _at_revision(self, stream: str, revision: int) -> tuple[str, int] | None:
        row = self._conn.execute(
            "SELECT event_id, pos FROM events WHERE stream = ? AND revision = ?",
            (stream, revision),
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def _find_id(self, stream: str, event_id: str) -> tuple[int, int] | None:
        row = self._conn.execute(
            "SELECT revision, pos FROM events WHERE event_id = ? AND stream = ?",
            (event_id, stream),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None
