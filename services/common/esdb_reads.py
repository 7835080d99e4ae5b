"""Reads through a shared esdbclient client, which another task's reconnect may cut short.

After NotLeader or an unavailable node, esdbclient's ``reconnect`` opens a new channel and
closes the old one, with every call still in flight on it, those of other tasks included.
esdbclient then ends such a read quietly, as if it were complete: ``get_stream`` returns a
truncated tuple (an empty one reads as "no such stream"). ``whole_read`` reads again when the
client's connection changed while it read.

The services' ``LeaderFollowingClient`` (esdb_client.py) retires the old connection instead,
so a read is cut only when it outlives the retirement's grace, or when that client fell back
to esdbclient's reconnect; ``whole_read`` still covers both (a read again costs little).

The connection is esdbclient's ``_connection`` attribute; if an upgrade removed it, nothing is
compared and a read is returned as esdbclient returned it (the public behaviour).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.common.cancellation import raise_if_cancelling
from services.common.store_errors import StoreUnavailableError

__all__ = ["whole_read"]

T = TypeVar("T")
_ATTEMPTS = 3  # reconnects overlapping three reads in a row: the store is not there


def _connection(client: object) -> object | None:
    return getattr(client, "_connection", None)


async def whole_read(client: object, read: Callable[[], Awaitable[T]]) -> T:
    """``await read()``, again if ``client`` reconnected meanwhile (the read may be cut short).

    Raises ``CancelledError`` when this task is being cancelled (esdbclient ends a cancelled
    read quietly too), and ``StoreUnavailableError`` when the client reconnected during every
    attempt.
    """
    for _ in range(_ATTEMPTS):
        before = _connection(client)
        result = await read()
        raise_if_cancelling()
        if before is None or _connection(client) is before:
            return result
    raise StoreUnavailableError("the event store connection changed during every read")
