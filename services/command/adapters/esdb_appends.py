"""The Appender both EventStoreDB writers use, and its plain form: esdbclient's append_to_stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

__all__ = ["Appender", "StockAppender"]


class Appender(Protocol):
    """Appends events to one stream atomically, with esdbclient's semantics and exceptions."""

    async def append(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        *,
        deadline: float,
    ) -> int:
        """Append expecting ``current_version``; the commit position."""
        ...

    def close(self) -> None:
        """Release what the appender holds (before the client closes)."""
        ...


class StockAppender:
    """Each append is ``AsyncEventStoreDBClient.append_to_stream``: the library's public API.

    It opens one BatchAppend call per append, reconnects when the connection broke (finding
    the leader again in a cluster) and retries once.
    """

    def __init__(self, client: AsyncEventStoreDBClient) -> None:
        self._client = client

    async def append(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        *,
        deadline: float,
    ) -> int:
        """Append atomically; the commit position. Raises what esdbclient raises."""
        position: int = await self._client.append_to_stream(
            stream, current_version=current_version, events=events, timeout=deadline
        )
        return position

    def close(self) -> None:
        """Nothing is held between appends."""
