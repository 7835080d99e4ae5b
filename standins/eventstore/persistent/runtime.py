"""The asyncio side of persistent subscriptions: groups, consumers, the log watcher and the tick.

Delivery is pushed: one task waits on ``EventLog.wait_beyond`` and pumps every group that has
consumers; acks, nacks and new consumers pump their group at once. A tick only expires message
timeouts and writes due checkpoints: like EventStoreDB's, it runs one second after the previous
tick was handled, so a message is retried at the first tick at or after its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import structlog

from standins.eventstore.log import EventLog
from standins.eventstore.persistent.errors import (
    GroupDroppedError,
    GroupError,
    GroupExistsError,
    GroupFailedError,
    GroupNotFoundError,
)
from standins.eventstore.persistent.group import Group
from standins.eventstore.persistent.messages import Delivery, Message, NackAction, make_message
from standins.eventstore.persistent.settings import (
    EventFilter,
    GroupKey,
    GroupSettings,
    StartKind,
    StartPoint,
    invalid_reason,
)
from standins.eventstore.persistent.store import GroupRecord, PersistentStore

__all__ = ["ConsumerSession", "GroupEntry", "SubscriptionRuntime"]

# EventStoreDB re-arms its PersistentSubscriptionTimerTick 1000 ms after handling the last one;
# message timeouts and time-based checkpoints are only ever checked on that tick.
TICK_INTERVAL = 1.0

_log = structlog.get_logger(__name__)


class ConsumerSession:
    """One connected consumer: the deliveries meant for it, or the error that ends it."""

    def __init__(
        self, key: GroupKey, consumer_id: str, connection_name: str = "", peer: str = ""
    ) -> None:
        self.key = key
        self.consumer_id = consumer_id
        self.connection_name = connection_name
        self.peer = peer
        self.queue: asyncio.Queue[Delivery | GroupError] = asyncio.Queue()
        self.dropped: GroupError | None = None

    def drop(self, error: GroupError) -> None:
        """End the consumer with ``error`` before anything still queued for it is sent."""
        if self.dropped is None:
            self.dropped = error
            self.queue.put_nowait(error)  # wakes the reader if it waits


@dataclass(slots=True, eq=False)
class GroupEntry:
    """A live group: its stored definition, its delivery state and its consumers."""

    record: GroupRecord
    group: Group
    sessions: dict[str, ConsumerSession] = field(default_factory=dict)


class SubscriptionRuntime:
    """Every persistent subscription group of the server, and their consumers."""

    def __init__(
        self,
        log: EventLog,
        db_path: str | None,
        *,
        tick_interval: float = TICK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._db_path = db_path
        self._tick_interval = tick_interval
        self._clock = clock
        self._store: PersistentStore | None = None
        self._entries: dict[GroupKey, GroupEntry] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._repump: set[GroupKey] = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._store = PersistentStore(self._db_path)
        for record in self._store.load_groups():
            self._entries[record.key] = GroupEntry(record, self._build(record))
        self._tasks = [
            asyncio.create_task(self._watch_log(), name="persistent-watch-log"),
            asyncio.create_task(self._tick_loop(), name="persistent-tick"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for entry in self._entries.values():
            self._drop_sessions(entry, GroupDroppedError(entry.record.key))
            self._checkpoint(entry, force=True)
        self._entries.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> PersistentStore:
        if self._store is None:
            raise RuntimeError("persistent subscriptions are not started")
        return self._store

    # ------------------------------------------------------------------ administration
    def create(
        self,
        key: GroupKey,
        settings: GroupSettings,
        start: StartPoint,
        event_filter: EventFilter | None = None,
    ) -> None:
        if key in self._entries:
            raise GroupExistsError(key)
        self._validate(key, settings)
        record = GroupRecord(key, settings, start, event_filter, self._resolve(key, start), None)
        self.store.create_group(record)
        self._entries[key] = GroupEntry(record, self._build(record))

    def update(self, key: GroupKey, settings: GroupSettings, start: StartPoint) -> None:
        """New settings and start point; consumers are dropped, progress is kept."""
        entry = self.entry(key)
        self._validate(key, settings)
        self._drop_sessions(entry, GroupDroppedError(key))
        self._checkpoint(entry, force=True)
        start_cursor = self._resolve(key, start)
        self.store.update_group(key, settings, start, start_cursor)
        entry.record = replace(
            entry.record,
            settings=settings,
            start=start,
            start_cursor=start_cursor,
            checkpoint=entry.group.last_checkpoint,
        )
        entry.group = self._build(entry.record)

    def delete(self, key: GroupKey) -> None:
        entry = self.entry(key)
        self._drop_sessions(entry, GroupNotFoundError(key))
        self.store.delete_group(key)
        del self._entries[key]

    def entry(self, key: GroupKey) -> GroupEntry:
        entry = self._entries.get(key)
        if entry is None:
            raise GroupNotFoundError(key)
        return entry

    def entries(self, source: str | None = None) -> list[GroupEntry]:
        """Groups in creation order, all of them or those of one source."""
        return [e for e in self._entries.values() if source in (None, e.record.key.source)]

    def replay_parked(self, key: GroupKey, limit: int | None = None) -> None:
        entry = self.entry(key)
        entry.group.replay_parked(limit)
        self._pump(entry)

    def restart(self) -> None:
        """Drop every consumer and reload every group from its stored state."""
        for entry in self._entries.values():
            self._drop_sessions(entry, GroupDroppedError(entry.record.key))
            self._checkpoint(entry, force=True)
            entry.record = replace(entry.record, checkpoint=entry.group.last_checkpoint)
            entry.group = self._build(entry.record)

    # ------------------------------------------------------------------ consumers
    def connect(
        self, key: GroupKey, buffer_size: int, connection_name: str = "", peer: str = ""
    ) -> ConsumerSession:
        entry = self.entry(key)
        session = ConsumerSession(key, uuid.uuid4().hex, connection_name, peer)
        entry.group.add_consumer(session.consumer_id, buffer_size, connection_name)
        entry.sessions[session.consumer_id] = session
        self._pump(entry)
        return session

    def disconnect(self, session: ConsumerSession) -> None:
        """The consumer went away: its unacknowledged messages are retried at once."""
        entry = self._entries.get(session.key)
        if entry is None or entry.sessions.pop(session.consumer_id, None) is None:
            return
        entry.group.remove_consumer(session.consumer_id)
        self._pump(entry)

    def ack(self, session: ConsumerSession, ack_ids: Iterable[str]) -> None:
        entry = self._live_entry(session)
        if entry is not None:
            entry.group.ack(ack_ids)
            self._pump(entry)

    def nack(self, session: ConsumerSession, ack_ids: Iterable[str], action: NackAction) -> None:
        entry = self._live_entry(session)
        if entry is not None:
            entry.group.nack(ack_ids, action)
            self._pump(entry)

    # ------------------------------------------------------------------ internals
    def _live_entry(self, session: ConsumerSession) -> GroupEntry | None:
        entry = self._entries.get(session.key)
        if entry is None or session.consumer_id not in entry.sessions:
            return None
        return entry

    def _validate(self, key: GroupKey, settings: GroupSettings) -> None:
        reason = invalid_reason(settings)
        if reason is not None:
            raise GroupFailedError(key, reason)

    def _resolve(self, key: GroupKey, start: StartPoint) -> int:
        """The cursor just before the first event to deliver (``end`` fixed to now)."""
        if start.kind is StartKind.START:
            return 0 if key.is_all else -1
        if start.kind is StartKind.END:
            return self._log.head if key.is_all else self._log.last_revision(key.source)
        return max(start.value - 1, 0 if key.is_all else -1)

    def _build(self, record: GroupRecord) -> Group:
        parked: dict[int, Message] = {}
        for row in self.store.load_parked(record.key):
            found = self._log.read_all(row.position - 1, 1)
            if found and found[0].position == row.position:
                parked[row.seq] = make_message(
                    self._log, found[0], row.key, row.prev_key, record.settings.resolve_links
                )
            else:
                self.store.unpark(record.key, row.seq)
        cursor = record.start_cursor if record.checkpoint is None else record.checkpoint
        return Group(
            record.key,
            record.settings,
            self._log,
            cursor=cursor,
            event_filter=record.event_filter,
            parked=parked,
            parked_log=self.store,
            checkpoint=record.checkpoint,
            now=self._clock(),
        )

    def _drop_sessions(self, entry: GroupEntry, error: GroupError) -> None:
        for session in entry.sessions.values():
            entry.group.remove_consumer(session.consumer_id)
            session.drop(error)
        entry.sessions.clear()

    def _checkpoint(self, entry: GroupEntry, *, force: bool = False) -> None:
        now = self._clock()
        checkpoint = entry.group.due_checkpoint(now, force=force)
        if checkpoint is not None and self._store is not None:
            self._store.save_checkpoint(entry.record.key, checkpoint)
            entry.group.checkpoint_written(checkpoint, now)

    def _pump(self, entry: GroupEntry) -> None:
        if not entry.sessions:
            return
        for delivery in entry.group.pump(self._clock()):
            session = entry.sessions.get(delivery.consumer_id)
            if session is not None:
                session.queue.put_nowait(delivery)
        key = entry.record.key
        if entry.group.needs_pump and key not in self._repump:
            # A sparse filter scanned a lot: let other work run, then continue.
            self._repump.add(key)
            asyncio.get_running_loop().call_soon(self._pump_later, key)

    def _pump_later(self, key: GroupKey) -> None:
        self._repump.discard(key)
        entry = self._entries.get(key)
        if entry is not None:
            self._pump(entry)

    async def _watch_log(self) -> None:
        seen = self._log.head
        while True:
            await self._log.wait_beyond(seen)
            seen = self._log.head
            for entry in list(self._entries.values()):
                try:
                    self._pump(entry)
                except Exception:  # one group's trouble must not stop live delivery to all
                    _log.exception("persistent delivery failed", group=entry.record.key)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            now = self._clock()
            for entry in list(self._entries.values()):
                try:
                    entry.group.tick(now)
                    self._pump(entry)
                    self._checkpoint(entry)
                except Exception:  # e.g. a locked database: try again on the next tick
                    _log.exception("persistent tick failed", group=entry.record.key)
