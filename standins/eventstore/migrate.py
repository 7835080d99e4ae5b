"""Open-time upgrade of a database written before positions became log offsets.

Such a database (``PRAGMA user_version`` 0) numbered its events 1, 2, 3, ... Those positions
are kept as they are: EventStoreDB never changes a position once given, and checkpoints kept
outside the store (a read model's, a publisher's, a persistent subscription's) name them. The
log simply goes on from the end of its last record, so every record appended from now on has
a log-offset position, apart from the previous one by the previous record's size.
"""

from __future__ import annotations

import sqlite3

import structlog

from standins.eventstore.positions import SCHEMA_VERSION

__all__ = ["migrate"]

_log = structlog.get_logger("eventstore.migrate")


def migrate(conn: sqlite3.Connection) -> None:
    """Mark ``conn``'s database as ``SCHEMA_VERSION``; no stored position moves."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    count = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    if count:
        _log.info("upgraded", events=count, schema=SCHEMA_VERSION, positions="kept")
