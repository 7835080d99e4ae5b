"""Streams.Read: reads of a stream or $all, and catch-up subscriptions to either.

Everything is an async generator of ``ReadResp`` over the committed log. Subscriptions keep a
cursor into the committed log and wait for the next commit (``wait_beyond``), so the switch from
history to live can neither miss nor repeat an event, and cancelling the call frees everything.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

from esdbclient.protos.Grpc import streams_pb2

from standins.eventstore import convert
from standins.eventstore.filters import EventFilter
from standins.eventstore.log import RecordedEvent
from standins.eventstore.storage import SqliteEventLog, is_metastream

__all__ = ["InvalidPositionError", "ReadRequest", "Reader", "StreamDeletedOnReadError"]

Options = streams_pb2.ReadReq.Options
_BATCH = 500
_LINK = "$>"


class StreamDeletedOnReadError(Exception):
    """The stream read or subscribed to is tombstoned."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.stream = stream


class InvalidPositionError(Exception):
    """A read of $all from a position inside a record (not 0, an event's, or the end)."""


class ReadRequest:
    """The parts of ``ReadReq.Options`` every read needs."""

    __slots__ = ("backwards", "count", "filter", "options", "resolve", "structured")

    def __init__(self, options: Options) -> None:
        self.options = options
        self.structured = options.uuid_option.WhichOneof("content") != "string"
        self.resolve = options.resolve_links
        self.backwards = options.read_direction == Options.ReadDirection.Backwards
        self.count = options.count
        self.filter: EventFilter | None = None
        if options.WhichOneof("filter_option") == "filter":
            self.filter = EventFilter.from_options(options.filter)


class Reader:
    """Serves reads and catch-up subscriptions from one ``SqliteEventLog``."""

    def __init__(self, log: SqliteEventLog) -> None:
        self._log = log

    def _message(self, event: RecordedEvent, request: ReadRequest) -> streams_pb2.ReadResp:
        if request.resolve and event.type == _LINK:
            target = self._log.resolve_link(event)
            return convert.read_event(
                event, structured=request.structured, target=target, resolved=True
            )
        return convert.read_event(event, structured=request.structured)

    def _check_not_tombstoned(self, stream: str) -> None:
        base = stream[2:] if is_metastream(stream) else stream
        if self._log.is_tombstoned(base) or self._log.is_tombstoned(stream):
            raise StreamDeletedOnReadError(stream)

    # ----------------------------------------------------------------- plain reads
    async def read_stream(self, request: ReadRequest) -> AsyncIterator[streams_pb2.ReadResp]:
        """Read a stream forwards (>= R) or backwards (<= R), at most ``count`` events."""
        stream_options = request.options.stream
        stream = stream_options.stream_identifier.stream_name.decode()
        self._check_not_tombstoned(stream)
        last = self._log.last_revision(stream)
        if last < 0 or (not is_metastream(stream) and self._log.metadata(stream).soft_deleted):
            yield convert.stream_not_found(stream)
            return
        which = stream_options.WhichOneof("revision_option")
        remaining = request.count
        if request.backwards:
            cursor = stream_options.revision if which == "revision" else last
            if which == "start":
                cursor = 0
            while remaining > 0 and cursor >= 0:
                batch = self._log.read_stream_backwards(stream, cursor, min(_BATCH, remaining))
                for event in batch:
                    yield self._message(event, request)
                remaining -= len(batch)
                if len(batch) < min(_BATCH, remaining + len(batch)):
                    return
                cursor = batch[-1].revision - 1
        else:
            cursor = stream_options.revision if which == "revision" else 0
            if which == "end":
                cursor = last + 1
            while remaining > 0:
                batch = self._log.read_stream(stream, cursor, min(_BATCH, remaining))
                for event in batch:
                    yield self._message(event, request)
                remaining -= len(batch)
                if len(batch) < min(_BATCH, remaining + len(batch)):
                    return
                cursor = batch[-1].revision + 1

    async def read_all(self, request: ReadRequest) -> AsyncIterator[streams_pb2.ReadResp]:
        """Read $all forwards (>= P) or backwards (< P); ``count`` limits matching events."""
        all_options = request.options.all
        which = all_options.WhichOneof("all_option")
        position = all_options.position.commit_position
        if which == "position" and not self._log.is_position(position):
            raise InvalidPositionError(position)
        # Each reads at most N events beyond an exclusive cursor, in the read's direction.
        read_batch: Callable[[int, int], list[RecordedEvent]]
        if request.backwards:
            if which == "start":
                return
            read_batch = self._log.read_all_backwards
            cursor = position if which == "position" else self._log.head + 1
        else:
            if which == "end":
                return
            read_batch = self._log.read_all
            cursor = max(position - 1, 0) if which == "position" else 0
        remaining = request.count
        event_filter = request.filter
        while remaining > 0:
            batch = read_batch(cursor, _BATCH)
            for event in batch:
                if event_filter is None or event_filter.matches(event):
                    yield self._message(event, request)
                    remaining -= 1
                    if remaining == 0:
                        return
            if len(batch) < _BATCH:
                return
            cursor = batch[-1].position

    # ----------------------------------------------------------------- subscriptions
    async def subscribe_stream(self, request: ReadRequest) -> AsyncIterator[streams_pb2.ReadResp]:
        """Catch-up subscription to a stream: revisions > R (or from 0, or only new ones)."""
        stream_options = request.options.stream
        stream = stream_options.stream_identifier.stream_name.decode()
        self._check_not_tombstoned(stream)
        which = stream_options.WhichOneof("revision_option")
        next_revision = 0
        if which == "revision":
            next_revision = stream_options.revision + 1
        elif which == "end":
            next_revision = self._log.last_revision(stream) + 1
        yield convert.confirmation(str(uuid.uuid4()))
        live = False
        while True:
            seen = self._log.head
            batch = self._log.read_stream_raw(stream, next_revision, _BATCH)
            if batch:
                for event in batch:
                    yield self._message(event, request)
                next_revision = batch[-1].revision + 1
                continue
            if not live:
                live = True
                yield convert.caught_up()
            self._check_not_tombstoned(stream)
            await self._log.wait_beyond(seen)

    async def subscribe_all(self, request: ReadRequest) -> AsyncIterator[streams_pb2.ReadResp]:
        """Catch-up subscription to $all: positions > P (or from the first, or only new ones)."""
        all_options = request.options.all
        which = all_options.WhichOneof("all_option")
        cursor = 0
        if which == "position":
            cursor = all_options.position.commit_position
            if not self._log.is_position(cursor):
                raise InvalidPositionError(cursor)
        elif which == "end":
            cursor = self._log.head
        event_filter = request.filter
        considered = 0
        yield convert.confirmation(str(uuid.uuid4()))
        live = False
        while True:
            batch = self._log.read_all(cursor, _BATCH)
            if not batch:
                if not live:
                    live = True
                    yield convert.caught_up()
                await self._log.wait_beyond(cursor)
                continue
            for event in batch:
                if event_filter is None:
                    yield self._message(event, request)
                    continue
                if event_filter.matches(event):
                    yield self._message(event, request)
                considered += 1
                if considered >= event_filter.checkpoint_interval:
                    considered = 0
                    yield convert.checkpoint(event.position)
            cursor = batch[-1].position
