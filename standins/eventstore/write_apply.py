"""One write in the writer's open transaction: NewEvent, WriteResult, and its checks and inserts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from standins.eventstore.positions import record_size
from standins.eventstore.storage import (
    DELETED_REVISION,
    SOFT_DELETED_TB,
    SqliteEventLog,
    StreamMeta,
    is_metastream,
    metastream_of,
    now_ticks,
)
from standins.eventstore.versioning import AppendCheck, WrongExpectedVersionError, check_append
from standins.eventstore.write_view import WriteView

__all__ = ["NewEvent", "WriteApplier", "WriteKind", "WriteResult"]

WriteKind = Literal["append", "delete", "tombstone"]
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


class WriteApplier:
    """Checks one write against its stream and inserts its rows into the open transaction.

    ``next_position`` is the $all position of the next row inserted (the end of the log): the
    writer sets it when it begins a transaction and reads it, and ``last_position`` (the last
    row inserted), after the commit. A row takes ``record_size`` bytes of positions.
    """

    def __init__(self, log: SqliteEventLog, view: WriteView) -> None:
        self._log = log
        self._conn = log.conn
        self._view = view
        self.next_position = 0
        self.last_position = 0

    def apply(
        self, kind: WriteKind, stream: str, expected: int, events: Sequence[NewEvent]
    ) -> WriteResult:
        """Check and insert one write; raise a ``StoreError`` (before any insert) when refused."""
        last, tombstoned, last_pos = self._view.state(stream)
        meta, has_meta = self._view.meta(stream)
        if kind == "delete" and not tombstoned and last < 0 and not meta.soft_deleted:
            raise WrongExpectedVersionError(stream, expected, -1)
        ids = [e.event_id for e in events] if kind == "append" else [str(uuid.uuid4())]
        check = AppendCheck(
            stream=stream,
            last=last,
            tombstoned=tombstoned,
            soft_deleted=meta.soft_deleted,
            has_metadata=has_meta,
            at_revision=lambda revision: self._view.at_revision(stream, revision),
            find_id=lambda event_id: self._view.find_id(stream, event_id),
        )
        idempotent = check_append(check, expected, ids)
        if idempotent is not None:
            return WriteResult(idempotent.revision, idempotent.position)
        if kind == "delete":
            position = self._insert_meta(stream, {"$tb": SOFT_DELETED_TB})
            return WriteResult(last, position)
        if kind == "tombstone":
            position = self._insert(stream, DELETED_REVISION, "$streamDeleted", data=b"")
            return WriteResult(last, position)
        if not events:
            return WriteResult(last, last_pos if last >= 0 else self._log.head)
        created, rows = now_ticks(), []
        for offset, event in enumerate(events):
            position = self._take_position(stream, event.type, event.data, event.metadata)
            rows.append(
                (
                    position,
                    stream,
                    last + 1 + offset,
                    event.event_id,
                    event.type,
                    int(event.is_json),
                    event.data,
                    event.metadata,
                    created,
                )
            )
        self._conn.executemany(_INSERT, rows)
        self._view.wrote(stream, last + len(events), position)
        if meta.soft_deleted and not is_metastream(stream):
            self._insert_meta(stream, {**meta.raw, "$tb": last + 1})
        elif is_metastream(stream):
            self._undelete_after_meta_write(stream[2:])
        return WriteResult(last + len(events), position)

    def _take_position(self, stream: str, type_: str, data: bytes, metadata: bytes) -> int:
        position = self.last_position = self.next_position
        self.next_position += record_size(stream, type_, data, metadata)
        return position

    def _undelete_after_meta_write(self, stream: str) -> None:
        # A metadata write on a soft-deleted stream that does not itself soft-delete it
        # re-creates the stream: truncate before the next revision instead.
        meta, _ = self._view.meta(stream)
        if meta.soft_deleted:
            return
        previous_row = self._conn.execute(
            "SELECT data FROM events WHERE stream = ? AND revision < ? "
            "ORDER BY revision DESC LIMIT 1 OFFSET 1",
            (metastream_of(stream), DELETED_REVISION),
        ).fetchone()
        if previous_row is None or not StreamMeta.parse(previous_row[0]).soft_deleted:
            return
        last = self._view.state(stream)[0]
        self._insert_meta(stream, {**meta.raw, "$tb": last + 1})

    def _insert_meta(self, stream: str, raw: dict[str, object]) -> int:
        metastream = metastream_of(stream)
        last = self._view.state(metastream)[0]
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
        position = self._take_position(stream, type_, data, metadata)
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
        self._view.wrote(stream, revision, position)
        return position
