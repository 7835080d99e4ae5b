"""EsdbInboxProgress: the command inbox's persistent subscription group, as the store reports
it (its checkpoint and parked count), and the inbox events in ``$all`` after that checkpoint.

The query service reads it for admin status and never imports the command service.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable

from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound

from services.common.esdb_client import STORE_UNREACHABLE
from services.common.esdb_positions import count_after
from services.common.esdb_reads import whole_read
from services.common.inbox_names import INBOX_STREAM_FILTER
from services.common.store_errors import StoreUnavailableError
from services.query.application.ports import InboxGroup

__all__ = ["EsdbInboxProgress", "commit_position"]

# A position in $all as persistent subscriptions report it: "C:<commit>/P:<prepare>".
_ALL_POSITION = re.compile(r"C:(\d+)/P:\d+")


def commit_position(reported: str) -> int | None:
    """The commit position in a group's reported position (None: none, or not of ``$all``)."""
    found = _ALL_POSITION.fullmatch(reported.strip())
    return int(found.group(1)) if found else None


class EsdbInboxProgress:
    """The InboxProgress port on esdbclient: the group's info, and a count of inbox events."""

    def __init__(
        self, client: AsyncEventStoreDBClient, group: str, *, timeout: float = 5.0
    ) -> None:
        self._client = client
        self._group = group
        self._timeout = timeout

    async def group(self, cap: int) -> InboxGroup | None:
        try:
            info = await self._client.get_subscription_info(self._group, timeout=self._timeout)
        except NotFound:
            return None
        except STORE_UNREACHABLE as error:
            raise StoreUnavailableError(f"event store unavailable: {error!r}") from error
        position = commit_position(info.last_checkpointed_event_position)

        def read() -> Awaitable[tuple[int, int]]:
            return count_after(
                self._client, (INBOX_STREAM_FILTER,), position, cap, call_timeout=self._timeout
            )

        try:
            behind, first_ms = await whole_read(self._client, read)
        except STORE_UNREACHABLE as error:
            raise StoreUnavailableError(f"event store unavailable: {error!r}") from error
        return InboxGroup(
            name=self._group,
            position=position,
            behind=behind,
            first_ms=first_ms,
            parked=info.parked_message_count,
        )
