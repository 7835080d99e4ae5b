"""EsdbPublisherProgress: where the command service's publisher stands, read from the store.

Its checkpoint stream (format: services/common/publisher_checkpoint.py) and the domain events
(``grid-*``) after the position it names; the query service reads both for admin status and
never imports the command service.
"""

from __future__ import annotations

from collections.abc import Awaitable

from esdbclient import AsyncEventStoreDBClient

from services.common.envelope import grid_stream
from services.common.esdb_client import STORE_UNREACHABLE
from services.common.esdb_positions import count_after, newest
from services.common.esdb_publisher_checkpoint import read_checkpoint
from services.common.esdb_reads import whole_read
from services.common.publisher_checkpoint import PublisherCheckpoint
from services.common.store_errors import StoreUnavailableError

__all__ = ["EsdbPublisherProgress"]

_DOMAIN_FILTER = (grid_stream(".*"),)  # esdbclient anchors it: names starting "grid-"


class EsdbPublisherProgress:
    """The PublisherProgress port: the checkpoint stream's last event, and domain events
    counted in ``$all`` after a position."""

    def __init__(
        self, client: AsyncEventStoreDBClient, stream: str, *, timeout: float = 5.0
    ) -> None:
        self._client = client
        self._stream = stream
        self._timeout = timeout

    async def checkpoint(self) -> PublisherCheckpoint | None:
        try:
            found = await read_checkpoint(self._client, self._stream, self._timeout)
        except STORE_UNREACHABLE as error:
            raise StoreUnavailableError(f"event store unavailable: {error!r}") from error
        return found[1] if found else None

    async def newest(self) -> int | None:
        try:
            head = await whole_read(self._client, lambda: newest(self._client, _DOMAIN_FILTER))
        except STORE_UNREACHABLE as error:
            raise StoreUnavailableError(f"event store unavailable: {error!r}") from error
        return head[0] if head is not None else None

    async def count_after(self, position: int | None, cap: int) -> tuple[int, int]:
        def read() -> Awaitable[tuple[int, int]]:
            return count_after(
                self._client, _DOMAIN_FILTER, position, cap, call_timeout=self._timeout
            )

        try:
            return await whole_read(self._client, read)
        except STORE_UNREACHABLE as error:
            raise StoreUnavailableError(f"event store unavailable: {error!r}") from error
