"""Open-time migration of a database with consecutive positions to byte-offset positions."""

from __future__ import annotations

import json
import sqlite3

import structlog

from standins.eventstore.positions import FIRST_POSITION, SCHEMA_VERSION, SQL_RECORD_SIZE

__all__ = ["migrate"]

_log = structlog.get_logger("eventstore.migrate")
_MAP = f"""
CREATE TEMP TABLE posmap AS
SELECT pos AS old,
       {FIRST_POSITION} + coalesce(sum({SQL_RECORD_SIZE}) OVER (
           ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS new,
       {SQL_RECORD_SIZE} AS size
FROM events
"""  # noqa: S608 - constant SQL


def migrate(conn: sqlite3.Connection) -> None:
    """Bring ``conn``'s database to ``SCHEMA_VERSION`` (positions as log offsets), in place.

    Every event keeps its order and gets the offset its record would have had in the log;
    positions kept by persistent subscriptions of ``$all`` (start, cursor, checkpoint, parked
    messages) and the ``$all`` positions of parked messages of stream groups move with them.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        count = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        if count:
            _renumber(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if count:
        _log.info("migrated", events=count, schema=SCHEMA_VERSION)


def _renumber(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS temp.posmap")
    conn.execute(_MAP)
    conn.execute("CREATE UNIQUE INDEX temp.posmap_old ON posmap (old)")
    conn.execute("UPDATE events SET pos = -pos")  # out of the way of the new positions
    conn.execute("UPDATE events SET pos = (SELECT new FROM posmap WHERE old = -events.pos)")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "psub_groups" in tables:
        _move_groups(conn)
    if "psub_parked" in tables:
        _move_parked(conn)
    conn.execute("DROP TABLE temp.posmap")


def _after(conn: sqlite3.Connection, cursor: int) -> int:
    """The new exclusive bound equivalent to ``cursor``: the new position of the last event
    at or before it (0 before the first)."""
    row = conn.execute(
        "SELECT new FROM posmap WHERE old <= ? ORDER BY old DESC LIMIT 1", (cursor,)
    ).fetchone()
    return int(row[0]) if row else 0


def _at(conn: sqlite3.Connection, position: int) -> int:
    """The new inclusive start equivalent to ``position``: the first event at or after it."""
    if position <= 0:
        return position
    row = conn.execute(
        "SELECT new FROM posmap WHERE old >= ? ORDER BY old LIMIT 1", (position,)
    ).fetchone()
    if row:
        return int(row[0])
    last = conn.execute("SELECT new + size FROM posmap ORDER BY old DESC LIMIT 1").fetchone()
    return int(last[0])


def _move_groups(conn: sqlite3.Connection) -> None:
    rows = conn.execute(
        "SELECT group_name, start, start_cursor, checkpoint FROM psub_groups WHERE source = '$all'"
    ).fetchall()
    for group_name, start_text, start_cursor, checkpoint in rows:
        start = json.loads(start_text)
        if start.get("kind") == "at":
            start["value"] = _at(conn, int(start["value"]))
        conn.execute(
            "UPDATE psub_groups SET start = ?, start_cursor = ?, checkpoint = ?"
            " WHERE source = '$all' AND group_name = ?",
            (
                json.dumps(start),
                _after(conn, int(start_cursor)),
                None if checkpoint is None else _after(conn, int(checkpoint)),
                group_name,
            ),
        )


def _move_parked(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT source, group_name, seq, position, key, prev_key FROM psub_parked")
    for source, group_name, seq, position, key, prev_key in rows.fetchall():
        on_all = source == "$all"
        conn.execute(
            "UPDATE psub_parked SET position = ?, key = ?, prev_key = ?"
            " WHERE source = ? AND group_name = ? AND seq = ?",
            (
                _after(conn, int(position)),
                _after(conn, int(key)) if on_all else key,
                _after(conn, int(prev_key)) if on_all else prev_key,
                source,
                group_name,
                seq,
            ),
        )
