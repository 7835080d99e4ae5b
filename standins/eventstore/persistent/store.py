"""Durable state of persistent subscriptions: groups, checkpoints and parked messages in SQLite.

Our own connection and tables (``psub_*``) in the event store's file, in WAL mode, so groups and
their progress survive a restart. Writes are tiny and synchronous on the event loop thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from standins.eventstore.persistent.messages import Message
from standins.eventstore.persistent.settings import (
    EventFilter,
    GroupKey,
    GroupSettings,
    StartPoint,
)

__all__ = ["GroupRecord", "PersistentStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS psub_groups (
    source TEXT NOT NULL,
    group_name TEXT NOT NULL,
    settings TEXT NOT NULL,
    start TEXT NOT NULL,
    filter TEXT,
    start_cursor INTEGER NOT NULL,
    checkpoint INTEGER,
    created INTEGER NOT NULL,
    PRIMARY KEY (source, group_name)
);
CREATE TABLE IF NOT EXISTS psub_parked (
    source TEXT NOT NULL,
    group_name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    position INTEGER NOT NULL,
    key INTEGER NOT NULL,
    prev_key INTEGER NOT NULL,
    PRIMARY KEY (source, group_name, seq)
);
"""


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A group as stored: definition, resolved start cursor and last checkpoint."""

    key: GroupKey
    settings: GroupSettings
    start: StartPoint
    event_filter: EventFilter | None
    start_cursor: int  # key just before the first event to deliver (``end`` resolved)
    checkpoint: int | None


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    """A parked message as stored: the $all position of its original record."""

    seq: int
    position: int
    key: int
    prev_key: int


class PersistentStore:
    """Groups, checkpoints and parked messages (``db_path=None``: in memory)."""

    def __init__(self, db_path: str | None) -> None:
        if db_path is None:
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA journal_mode=WAL")
            # Checkpoints may lag (redelivery is allowed); parked rows are rewritten rarely.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._created = 0

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ groups
    def load_groups(self) -> list[GroupRecord]:
        rows = self._conn.execute(
            "SELECT source, group_name, settings, start, filter, start_cursor, checkpoint, created"
            " FROM psub_groups ORDER BY created"
        ).fetchall()
        self._created = max((int(r[7]) for r in rows), default=0)
        return [
            GroupRecord(
                key=GroupKey(r[0], r[1]),
                settings=GroupSettings.from_json(r[2]),
                start=StartPoint.from_json(r[3]),
                event_filter=EventFilter.from_json(r[4]) if r[4] else None,
                start_cursor=int(r[5]),
                checkpoint=None if r[6] is None else int(r[6]),
            )
            for r in rows
        ]

    def create_group(self, record: GroupRecord) -> None:
        self._created += 1
        with self._conn:
            self._conn.execute("BEGIN")
            self._delete(record.key)
            self._conn.execute(
                "INSERT INTO psub_groups VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key.source,
                    record.key.group,
                    record.settings.to_json(),
                    record.start.to_json(),
                    record.event_filter.to_json() if record.event_filter else None,
                    record.start_cursor,
                    record.checkpoint,
                    self._created,
                ),
            )

    def update_group(
        self, key: GroupKey, settings: GroupSettings, start: StartPoint, start_cursor: int
    ) -> None:
        self._conn.execute(
            "UPDATE psub_groups SET settings = ?, start = ?, start_cursor = ?"
            " WHERE source = ? AND group_name = ?",
            (settings.to_json(), start.to_json(), start_cursor, key.source, key.group),
        )

    def delete_group(self, key: GroupKey) -> None:
        with self._conn:
            self._conn.execute("BEGIN")
            self._delete(key)

    def save_checkpoint(self, key: GroupKey, checkpoint: int) -> None:
        self._conn.execute(
            "UPDATE psub_groups SET checkpoint = ? WHERE source = ? AND group_name = ?",
            (checkpoint, key.source, key.group),
        )

    def _delete(self, key: GroupKey) -> None:
        for table in ("psub_groups", "psub_parked"):
            self._conn.execute(
                f"DELETE FROM {table} WHERE source = ? AND group_name = ?",  # noqa: S608
                (key.source, key.group),
            )

    # ------------------------------------------------------------------ parked messages
    def load_parked(self, key: GroupKey) -> list[ParkedRecord]:
        rows = self._conn.execute(
            "SELECT seq, position, key, prev_key FROM psub_parked"
            " WHERE source = ? AND group_name = ? ORDER BY seq",
            (key.source, key.group),
        ).fetchall()
        return [ParkedRecord(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def park(self, key: GroupKey, seq: int, message: Message) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO psub_parked VALUES (?, ?, ?, ?, ?, ?)",
            (
                key.source,
                key.group,
                seq,
                message.original.position,
                message.key,
                message.prev_key,
            ),
        )

    def unpark(self, key: GroupKey, seq: int) -> None:
        self._conn.execute(
            "DELETE FROM psub_parked WHERE source = ? AND group_name = ? AND seq = ?",
            (key.source, key.group, seq),
        )
