"""SQLite storage engine: the schema, committed reads (``EventLog``) and commit notification.

Writes live in ``writer.py`` (one group-committing writer on the event loop); this module owns
the connections and everything a reader needs. Every read is bounded by the committed ``head``,
so a reader never sees a row the writer has inserted but not yet committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from standins.eventstore.log import RecordedEvent
from standins.eventstore.metadata import (
    DELETED_REVISION,
    SOFT_DELETED_TB,
    StreamMeta,
    is_metastream,
    metastream_of,
    now_ticks,
)
from standins.eventstore.migrate import migrate
from standins.eventstore.positions import FIRST_POSITION, SQL_RECORD_SIZE, record_size

__all__ = [
    "DELETED_REVISION",
    "SOFT_DELETED_TB",
    "SqliteEventLog",
    "StreamMeta",
    "is_metastream",
    "metastream_of",
    "now_ticks",
]

_COLUMNS = "pos, stream, revision, event_id, type, is_json, data, metadata, created"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    pos INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    revision INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    is_json INTEGER NOT NULL,
    data BLOB NOT NULL,
    metadata BLOB NOT NULL,
    created INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events (stream, revision);
CREATE INDEX IF NOT EXISTS events_by_id ON events (event_id);
"""
_SEED_STREAM = "$$$scavenges"
_SELECT = f"SELECT {_COLUMNS} FROM events WHERE "  # noqa: S608 - constant column list
_READ_ALL = _SELECT + "pos > ? AND pos <= ? ORDER BY pos LIMIT ?"
_READ_ALL_BACKWARDS = _SELECT + "pos < ? AND pos <= ? ORDER BY pos DESC LIMIT ?"
_STREAM_RANGE = (
    "stream = ? AND revision >= ? AND revision <= ? AND pos <= ? AND created >= ? "
    "ORDER BY revision "
)
_READ_STREAM = {
    True: _SELECT + _STREAM_RANGE + "ASC LIMIT ?",
    False: _SELECT + _STREAM_RANGE + "DESC LIMIT ?",
}


def _row(row: tuple[Any, ...]) -> RecordedEvent:
    pos, stream, revision, event_id, type_, is_json, data, metadata, created = row
    return RecordedEvent(
        pos, stream, revision, event_id, type_, bool(is_json), data, metadata, created
    )


class SqliteEventLog:
    """The committed event log in SQLite (implements ``EventLog``).

    ``db_path=None`` keeps everything in memory (tests); otherwise the file is opened in WAL
    mode with ``synchronous=FULL`` (or ``NORMAL`` when ``durable`` is false).
    """

    def __init__(self, db_path: str | None, *, durable: bool = True) -> None:
        self.db_path = db_path
        if db_path is None:
            self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self.reader = self.conn
        else:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self.conn.execute("PRAGMA busy_timeout=5000")
            self.reader = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            self.reader.execute("PRAGMA query_only=1")
        self.conn.executescript(_SCHEMA)
        migrate(self.conn)
        self.conn.execute("PRAGMA cache_size=-65536")
        last = self.conn.execute(
            f"SELECT pos, pos + {SQL_RECORD_SIZE} FROM events ORDER BY pos DESC LIMIT 1"  # noqa: S608
        ).fetchone()
        self._head, self._end = (int(last[0]), int(last[1])) if last else (0, FIRST_POSITION)
        self._changed = asyncio.Event()
        self._closed = False
        if self._head == 0:
            self._seed()

    def _seed(self) -> None:
        # ESDB's $all starts with system records; clients rely on the first event being `$...`.
        data = b'{"$maxAge":2592000}'
        self.conn.execute(
            "INSERT INTO events (pos, stream, revision, event_id, type, is_json, data, metadata,"
            " created) VALUES (?, ?, 0, ?, '$metadata', 1, ?, x'', ?)",
            (
                FIRST_POSITION,
                _SEED_STREAM,
                "00000000-0000-0000-0000-000000000001",
                data,
                now_ticks(),
            ),
        )
        self._head = FIRST_POSITION
        self._end = FIRST_POSITION + record_size(_SEED_STREAM, "$metadata", data, b"")

    def close(self) -> None:
        """Close both connections (checkpointing the WAL)."""
        if self.reader is not self.conn:
            self.reader.close()
        self.conn.close()

    # ----------------------------------------------------------------- commit notification
    @property
    def head(self) -> int:
        """Position of the last committed event; 0 when the log is empty."""
        return self._head

    @property
    def end(self) -> int:
        """Where the next record starts: the end of the last committed record."""
        return self._end

    def is_position(self, position: int) -> bool:
        """Whether a read of $all may start at ``position``: 0, an event's position or any
        position from the end of the log on (EventStoreDB cannot read from inside a record)."""
        if position == 0 or position >= self._end:
            return True
        row = self.reader.execute(
            "SELECT 1 FROM events WHERE pos = ? AND pos <= ?", (position, self._head)
        ).fetchone()
        return row is not None

    def committed(self, head: int, end: int) -> None:
        """Called by the writer after a commit: advance ``head`` and wake every waiter."""
        self._head = head
        self._end = end
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_beyond(self, position: int) -> None:
        """Return as soon as ``head > position`` (immediately if it already is).

        After ``shutdown()`` a waiter is cancelled (raises ``CancelledError``), which ends
        every subscription at once while the server stops.
        """
        while self._head <= position:
            if self._closed:
                raise asyncio.CancelledError("the event store is shutting down")
            await self._changed.wait()

    def shutdown(self) -> None:
        """Wake every waiter for good: the server is stopping."""
        self._closed = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # ----------------------------------------------------------------- $all
    def read_all(self, after: int, limit: int) -> list[RecordedEvent]:
        """Events with position > ``after``, ascending, at most ``limit``."""
        rows = self.reader.execute(
            _READ_ALL,
            (after, self._head, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def read_all_backwards(self, before: int, limit: int) -> list[RecordedEvent]:
        """Events with position < ``before``, descending, at most ``limit``."""
        rows = self.reader.execute(
            _READ_ALL_BACKWARDS,
            (before, self._head, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    # ----------------------------------------------------------------- streams
    def stream_state(self, stream: str) -> tuple[int, bool]:
        """(last event number or -1, tombstoned) of ``stream`` as committed."""
        rows = self.reader.execute(
            "SELECT revision FROM events WHERE stream = ? AND pos <= ? "
            "ORDER BY revision DESC LIMIT 2",
            (stream, self._head),
        ).fetchall()
        tombstoned = bool(rows) and rows[0][0] == DELETED_REVISION
        live = [r[0] for r in rows if r[0] != DELETED_REVISION]
        return (live[0] if live else -1), tombstoned

    def last_revision(self, stream: str) -> int:
        """Last event number of ``stream``; -1 when it has no events."""
        return self.stream_state(stream)[0]

    def is_tombstoned(self, stream: str) -> bool:
        """Whether ``stream`` was hard-deleted."""
        return self.stream_state(stream)[1]

    def metadata(self, stream: str) -> StreamMeta:
        """The committed metadata of ``stream`` (the last event of its ``$$`` stream)."""
        row = self.reader.execute(
            "SELECT data FROM events WHERE stream = ? AND pos <= ? AND revision < ? "
            "ORDER BY revision DESC LIMIT 1",
            (metastream_of(stream), self._head, DELETED_REVISION),
        ).fetchone()
        return StreamMeta.parse(row[0] if row else None)

    def visible_range(self, stream: str, last: int) -> tuple[int, int | None]:
        """(first visible revision, minimum ``created`` ticks or None) under the metadata."""
        if is_metastream(stream):
            return max(last, 0), None  # ESDB keeps only the last metadata event visible
        meta = self.metadata(stream)
        first = meta.tb
        if meta.max_count is not None:
            first = max(first, last - meta.max_count + 1)
        min_created = None
        if meta.max_age is not None:
            min_created = now_ticks() - meta.max_age * 10_000_000
        return first, min_created

    def _stream_rows(
        self, stream: str, low: int, high: int, limit: int, *, forwards: bool, min_created: int
    ) -> list[RecordedEvent]:
        rows = self.reader.execute(
            _READ_STREAM[forwards],
            (stream, low, high, self._head, min_created, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def read_stream(self, stream: str, from_revision: int, limit: int) -> list[RecordedEvent]:
        """Visible events of ``stream`` with revision >= ``from_revision``, ascending."""
        last = self.last_revision(stream)
        if last < 0:
            return []
        first, min_created = self.visible_range(stream, last)
        return self._stream_rows(
            stream,
            max(first, from_revision),
            last,
            limit,
            forwards=True,
            min_created=min_created or 0,
        )

    def read_stream_backwards(
        self, stream: str, from_revision: int, limit: int
    ) -> list[RecordedEvent]:
        """Visible events of ``stream`` with revision <= ``from_revision``, descending."""
        last = self.last_revision(stream)
        if last < 0:
            return []
        first, min_created = self.visible_range(stream, last)
        return self._stream_rows(
            stream,
            first,
            min(from_revision, last),
            limit,
            forwards=False,
            min_created=min_created or 0,
        )

    def read_stream_raw(self, stream: str, from_revision: int, limit: int) -> list[RecordedEvent]:
        """Committed events of ``stream`` from ``from_revision``, ignoring metadata."""
        return self._stream_rows(
            stream, from_revision, DELETED_REVISION - 1, limit, forwards=True, min_created=0
        )

    def resolve_link(self, event: RecordedEvent) -> RecordedEvent | None:
        """The target of a ``$>`` link event (data ``"<revision>@<stream>"``); None if gone."""
        try:
            revision_text, stream = event.data.decode("utf-8").split("@", 1)
            revision = int(revision_text)
        except (UnicodeDecodeError, ValueError):
            return None
        last = self.last_revision(stream)
        if revision > last:
            return None
        first, min_created = self.visible_range(stream, last)
        if revision < first:
            return None
        found = self._stream_rows(
            stream, revision, revision, 1, forwards=True, min_created=min_created or 0
        )
        return found[0] if found else None
