"""The command inbox on EventStoreDB: the group's deliveries, the inbox appends, the reply streams.

Inbox events carry JSON metadata ``{"reply_stream": "..."}`` when the sender names a reply
stream. A reply carries ``{"request_id", "inbox_stream", "inbox_revision"}`` and an event id
derived from the inbox event (stream and revision), so each inbox event is answered once: a
redelivery re-sends the same event id, which the store's idempotent append keeps once
(EventStoreDB remembers recent event ids; a resubmitted request_id is a new inbox event and is
answered again, and readers take the newest reply).
Every reply stream gets ``$maxAge`` so storage stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from esdbclient import AsyncEventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.exceptions import NotFound, ProgrammingError

from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_errors import translated
from services.command.application.errors import StoreUnavailableError
from services.command.application.inbox import (
    REPLY_STREAM_PREFIX,
    QueuedCommand,
    Reply,
)
from services.common.cancellation import raise_if_cancelling

__all__ = [
    "EsdbInboxGroupStats",
    "EsdbInboxHistory",
    "EsdbInboxSubscription",
    "EsdbInboxWriter",
    "EsdbReplyLog",
]

_REPLY_IDS = uuid.UUID("5b0f1c52-8d3e-4f7a-9c61-2e4d8a7b3f90")
_SEARCH = 1_000  # newest events of a named reply stream GetCommandResult searches
_PAGE = 500  # events per backwards read of the order check's search


def _named_reply_stream(metadata: bytes) -> str:
    try:
        body = json.loads(metadata or b"{}")
    except ValueError:
        return ""
    named = body.get("reply_stream") if isinstance(body, dict) else None
    return named if isinstance(named, str) else ""


def _before(recorded: RecordedEvent, queued: QueuedCommand) -> bool:
    """Whether ``recorded`` was stored before the inbox event ``queued`` (same store clock)."""
    if recorded.recorded_at is None or queued.recorded_at is None:
        return False
    return recorded.recorded_at < queued.recorded_at


def reply_event_id(stream: str, revision: int) -> uuid.UUID:
    """The id of the reply to the inbox event at ``stream``/``revision`` (the same every time)."""
    return uuid.uuid5(_REPLY_IDS, f"{stream}\x00{revision}")


def _queued(event: RecordedEvent) -> QueuedCommand:
    return QueuedCommand(
        stream=event.stream_name,
        revision=event.stream_position,
        attempt=event.retry_count or 0,
        event_type=event.type,
        data=event.data,
        reply_stream=_named_reply_stream(event.metadata),
        handle=event.ack_id,
        recorded_at=event.recorded_at,
    )


class EsdbInboxSubscription:
    """A connection to the inbox's persistent subscription group (``$all``, filtered)."""

    def __init__(self, client: AsyncEventStoreDBClient, group: str, *, buffer_size: int) -> None:
        self._client = client
        self._group = group
        self._buffer_size = buffer_size
        self._subscription: Any = None
        self.open = False  # True while the group's subscription is held

    async def deliveries(self) -> AsyncIterator[QueuedCommand]:
        """Delivered commands until the subscription ends or fails."""
        with translated(f"$all/{self._group}"):
            self._subscription = await self._client.read_subscription_to_all(
                self._group, event_buffer_size=self._buffer_size
            )
        subscription = self._subscription
        self.open = True
        try:
            with translated(f"$all/{self._group}"):
                async for event in subscription:
                    yield _queued(event)
        except Exception:
            raise_if_cancelling()  # esdbclient turns a cancellation into its own error
            raise
        finally:
            self.open = False
            await subscription.stop()

    async def ack(self, queued: QueuedCommand) -> None:
        """Done: never deliver it again."""
        await self._settle(queued, "ack")

    async def retry(self, queued: QueuedCommand) -> None:
        """Deliver it again later."""
        await self._settle(queued, "retry")

    async def park(self, queued: QueuedCommand) -> None:
        """Set it aside (the group's parked messages)."""
        await self._settle(queued, "park")

    async def _settle(self, queued: QueuedCommand, action: Literal["ack", "retry", "park"]) -> None:
        try:
            with translated(queued.stream):
                if action == "ack":
                    await self._subscription.ack(queued.handle)
                else:
                    await self._subscription.nack(queued.handle, action=action)
        except ProgrammingError:  # the subscription was stopped under this delivery
            raise_if_cancelling()
            raise StoreUnavailableError(
                f"the inbox subscription ended ({action} not sent)"
            ) from None


class EsdbInboxHistory:
    """Reads the event before a given one in an inbox stream (the order check)."""

    def __init__(
        self, client: AsyncEventStoreDBClient, *, timeout: float, max_age_seconds: int
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._max_age = timedelta(seconds=max_age_seconds)

    async def previous(self, stream: str, revision: int) -> QueuedCommand | None:
        """The event before ``revision``; None when gone or older than replies are kept."""
        with translated(stream):
            try:
                found = await self._client.get_stream(
                    stream, stream_position=revision - 1, limit=1, timeout=self._timeout
                )
            except NotFound:
                return None
        if not found or found[0].stream_position != revision - 1:
            return None
        event = found[0]
        recorded = event.recorded_at
        if recorded is not None and datetime.now(UTC) - recorded > self._max_age:
            return None  # its reply has expired, if it ever had one: nothing to wait for
        return _queued(event)


class EsdbInboxWriter:
    """Appends commands to inbox streams (the SubmitCommand RPC)."""

    def __init__(self, appender: Appender, *, timeout: float) -> None:
        self._appender = appender
        self._timeout = timeout

    async def enqueue(self, stream: str, event_type: str, data: bytes, *, reply_stream: str) -> int:
        """Append one command; its commit position."""
        metadata = json.dumps({"reply_stream": reply_stream} if reply_stream else {}).encode()
        event = NewEvent(
            type=event_type, data=data, metadata=metadata, content_type="application/octet-stream"
        )
        with translated(stream):
            return await self._appender.append(
                stream, StreamState.ANY, [event], deadline=self._timeout
            )


class EsdbReplyLog:
    """Reply streams: appends (at most once per inbox event) and look-ups by request_id."""

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        *,
        timeout: float,
        max_age_seconds: int,
        appender: Appender | None = None,
    ) -> None:
        self._client = client
        self._appender = appender or StockAppender(client)
        self._timeout = timeout
        self._max_age = max_age_seconds
        self._aged: set[str] = set()  # named streams whose $maxAge this process has set

    async def append(
        self, stream: str, reply: Reply, *, request_id: str, queued: QueuedCommand
    ) -> None:
        """Append ``reply``; again for the same inbox event, the store keeps the first."""
        event_id = reply_event_id(queued.stream, queued.revision)
        metadata = {
            "request_id": request_id,
            "inbox_stream": queued.stream,
            "inbox_revision": queued.revision,
        }
        event = NewEvent(
            type=reply.event_type,
            data=reply.data,
            metadata=json.dumps(metadata).encode(),
            content_type="application/octet-stream",
            id=event_id,
        )
        with translated(stream):
            if stream not in self._aged:  # stream metadata: a $metadata event in $$stream
                aged = NewEvent(
                    type="$metadata", data=json.dumps({"$maxAge": self._max_age}).encode()
                )
                await self._appender.append(
                    f"$${stream}", StreamState.ANY, [aged], deadline=self._timeout
                )
                if not stream.startswith(REPLY_STREAM_PREFIX):  # a per-request one is new
                    self._aged.add(stream)
            # A redelivery re-sends the same event id: the store keeps one (idempotent append).
            await self._appender.append(stream, StreamState.ANY, [event], deadline=self._timeout)

    async def answered(self, stream: str, queued: QueuedCommand) -> bool:
        """Whether ``stream`` holds the reply to the inbox event ``queued``: read backwards
        page by page, down to the first event recorded before ``queued`` (its reply cannot
        be older), so a busy shared reply stream is searched as far as needed and no further."""
        event_id = reply_event_id(queued.stream, queued.revision)
        position: int | None = None
        with translated(stream):
            while True:
                try:
                    page = await self._client.get_stream(
                        stream,
                        stream_position=position,
                        backwards=True,
                        limit=_PAGE,
                        timeout=self._timeout,
                    )
                except NotFound:
                    return False
                for recorded in page:
                    if recorded.id == event_id:
                        return True
                    if _before(recorded, queued):
                        return False
                if len(page) < _PAGE or page[-1].stream_position == 0:
                    return False
                position = page[-1].stream_position - 1

    async def find(self, stream: str, request_id: str) -> Reply | None:
        """The newest reply to ``request_id`` among the stream's newest events."""
        with translated(stream):
            for recorded in await self._newest(stream):
                try:
                    body = json.loads(recorded.metadata or b"{}")
                except ValueError:
                    continue
                if isinstance(body, dict) and body.get("request_id") == request_id:
                    return Reply(recorded.type, recorded.data)
            return None

    async def _newest(self, stream: str) -> tuple[RecordedEvent, ...]:
        try:
            return tuple(
                await self._client.get_stream(
                    stream, backwards=True, limit=_SEARCH, timeout=self._timeout
                )
            )
        except NotFound:
            return ()


class EsdbInboxGroupStats:
    """The inbox group's parked and waiting commands, as the server reports them (polled)."""

    def __init__(self, client: AsyncEventStoreDBClient, group: str, *, interval: float) -> None:
        self._client = client
        self._group = group
        self._interval = interval
        self.parked: int | None = None  # None until the first measurement
        self.backlog: int | None = None

    async def run(self) -> None:
        """Measure every ``interval`` seconds, forever."""
        while True:
            with translated(f"$all/{self._group}"):
                info = await self._client.get_subscription_info(self._group)
            self.parked = info.parked_message_count
            self.backlog = (
                info.read_buffer_count
                + info.live_buffer_count
                + info.retry_buffer_count
                + info.total_in_flight_messages
            )
            await asyncio.sleep(self._interval)
