"""The writer's view of streams: their state and metadata, cached, uncommitted inserts included."""

from __future__ import annotations

import sqlite3
from typing import TypeVar

from standins.eventstore.storage import DELETED_REVISION, StreamMeta, is_metastream, metastream_of

__all__ = ["WriteView"]

_MAX_CACHED_STREAMS = 10_000
_T = TypeVar("_T")


class WriteView:
    """What the writer sees of each stream, on the writer's connection (open transaction included).

    The state and metadata of recently written streams are cached, so a write to a known stream
    needs one look-up (its event ids) instead of three; ``wrote`` keeps the caches right after
    every insert and ``forget`` drops them when a transaction fails.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._states: dict[str, tuple[int, bool, int]] = {}  # stream -> state()
        self._metas: dict[str, tuple[StreamMeta, bool]] = {}  # stream -> meta()

    def forget(self) -> None:
        """Drop the caches: they may hold inserts of a transaction that was rolled back."""
        self._states.clear()
        self._metas.clear()

    def wrote(self, stream: str, revision: int, position: int) -> None:
        """Keep the caches right after inserting ``revision`` of ``stream`` at ``position``."""
        if revision == DELETED_REVISION:
            last, _, last_pos = self.state(stream)
            self._remember(self._states, stream, (last, True, last_pos))
        else:
            self._remember(self._states, stream, (revision, False, position))
        if is_metastream(stream):
            self._metas.pop(stream[2:], None)

    @staticmethod
    def _remember(cache: dict[str, _T], stream: str, value: _T) -> None:
        if stream not in cache and len(cache) >= _MAX_CACHED_STREAMS:
            del cache[next(iter(cache))]  # the oldest entry
        cache[stream] = value

    def state(self, stream: str) -> tuple[int, bool, int]:
        """``(last live revision or -1, tombstoned, position of that revision or 0)``."""
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

    def meta(self, stream: str) -> tuple[StreamMeta, bool]:
        """``stream``'s current metadata, and whether it has any."""
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

    def at_revision(self, stream: str, revision: int) -> tuple[str, int] | None:
        """``(event id, position)`` of ``revision`` of ``stream``, if it exists."""
        row = self._conn.execute(
            "SELECT event_id, pos FROM events WHERE stream = ? AND revision = ?",
            (stream, revision),
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def find_id(self, stream: str, event_id: str) -> tuple[int, int] | None:
        """``(revision, position)`` of the event ``event_id`` in ``stream``, if it is there."""
        row = self._conn.execute(
            "SELECT revision, pos FROM events WHERE event_id = ? AND stream = ?",
            (event_id, stream),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None
