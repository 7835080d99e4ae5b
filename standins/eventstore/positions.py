"""$all positions as EventStoreDB's: byte offsets of records in a log (increasing, with gaps).

EventStoreDB writes each event as one prepare record flagged committed; its commit and prepare
positions are both that record's log offset, the next record starts where it ends, and an
append is answered with the position of its last record. We do the same with a record size
modelled on a prepare record: a fixed header plus the stream name, type, data and metadata.
The log's first record (before it, EventStoreDB has its epoch record) starts at
``FIRST_POSITION``, so position 0 is the start of ``$all`` and never an event's. A database
written before positions were offsets keeps its old positions 1, 2, 3, ... (see migrate.py);
its log goes on with offsets after the last of them.
"""

from __future__ import annotations

__all__ = ["FIRST_POSITION", "SCHEMA_VERSION", "SQL_RECORD_SIZE", "record_size"]

SCHEMA_VERSION = 1  # PRAGMA user_version: new records at offsets; 0 = consecutive positions
FIRST_POSITION = 128
RECORD_OVERHEAD = 88  # prepare header, ids, flags, versions, timestamp, length prefix/suffix
SQL_RECORD_SIZE = (
    f"({RECORD_OVERHEAD} + length(CAST(stream AS BLOB)) + length(CAST(type AS BLOB))"
    " + length(CAST(data AS BLOB)) + length(CAST(metadata AS BLOB)))"
)


def record_size(stream: str, type_: str, data: bytes, metadata: bytes) -> int:
    """Bytes the record of one event takes in the log (``SQL_RECORD_SIZE`` in Python)."""
    return (
        RECORD_OVERHEAD
        + len(stream.encode("utf-8"))
        + len(type_.encode("utf-8"))
        + len(data)
        + len(metadata)
    )
