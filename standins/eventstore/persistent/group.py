"""The delivery algorithm of one persistent subscription group.

Pure and synchronous: it reads the ``EventLog`` (synchronous reads) and is told the time; the
asyncio runtime decides when to call it (new commits, acks, ticks) and carries its deliveries to
the consumers. Ordering keys are stream revisions for a stream group and commit positions for a
group on ``$all``; a checkpoint is the key of an event up to which everything was processed.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Iterable, Mapping

from standins.eventstore.log import EventLog
from standins.eventstore.persistent.consumers import ConsumerPool
from standins.eventstore.persistent.messages import (
    Consumer,
    Delivery,
    Message,
    NackAction,
    ParkedLog,
    make_message,
)
from standins.eventstore.persistent.settings import EventFilter, GroupKey, GroupSettings

__all__ = ["Group"]

_SCAN_BATCHES = 8  # log batches one pump may read before yielding the loop (sparse filters)


class Group:
    """Delivery state of one group: read cursor, buffer, retries, in-flight, parked, consumers.

    Retries go out before new events; each consumer holds at most its ``buffer_size``
    unacknowledged messages; a message that times out, is nacked for retry or whose consumer
    leaves is retried with ``retry_count + 1`` until ``max_retry_count``, then parked.
    """

    def __init__(
        self,
        key: GroupKey,
        settings: GroupSettings,
        log: EventLog,
        *,
        cursor: int,
        event_filter: EventFilter | None = None,
        parked: Mapping[int, Message] | None = None,
        parked_log: ParkedLog | None = None,
        checkpoint: int | None = None,
        now: float = 0.0,
    ) -> None:
        self.key = key
        self.settings = settings
        self.event_filter = event_filter
        self.cursor = cursor  # key of the last record read from the source
        self.caught_up = False
        self.needs_pump = False  # a pump stopped early with more to read
        self.total_items = 0
        self.last_checkpoint = checkpoint
        self._log = log
        self._parked_log = parked_log
        self._buffer: deque[Message] = deque()
        self._retry: list[Message] = []
        self._unprocessed: dict[int, int] = {}  # key -> prev_key, in ascending key order
        self._consumers = ConsumerPool(key)
        self._parked: dict[int, Message] = dict(parked or {})
        self._next_seq = max(self._parked, default=0) + 1
        self._processed = 0
        self._processed_at_checkpoint = 0
        self._checkpoint_time = now

    # ------------------------------------------------------------------ consumers
    @property
    def consumers(self) -> list[Consumer]:
        return self._consumers.members

    def add_consumer(self, consumer_id: str, buffer_size: int, connection_name: str = "") -> None:
        limit = self.settings.max_subscriber_count
        self._consumers.add(consumer_id, buffer_size, connection_name, limit)

    def remove_consumer(self, consumer_id: str) -> None:
        """Forget a consumer; everything it had in flight is retried at once."""
        for message in self._consumers.remove(consumer_id):
            self._retry_or_park(message)

    # ------------------------------------------------------------------ acks
    def ack(self, ack_ids: Iterable[str]) -> None:
        """Processed. A late ack of a message already queued for retry still counts."""
        for ack_id in ack_ids:
            message = self._consumers.take(ack_id) or self._take_retry(ack_id)
            if message is not None:
                self._mark_processed(message)

    def nack(self, ack_ids: Iterable[str], action: NackAction, reason: str = "") -> None:
        for ack_id in ack_ids:
            message = self._consumers.take(ack_id) or self._take_retry(ack_id)
            if message is None:
                continue
            if action in (NackAction.UNKNOWN, NackAction.RETRY):
                self._retry_or_park(message)
            elif action is NackAction.PARK:
                self._park(message)
            else:  # SKIP, and STOP which a server treats as processed
                self._mark_processed(message)

    def tick(self, now: float) -> None:
        """Retry (or park) every message whose timeout has passed."""
        if self.settings.message_timeout_ms <= 0:
            return
        for message in self._consumers.take_expired(now):
            self._retry_or_park(message)

    # ------------------------------------------------------------------ parked
    @property
    def parked_count(self) -> int:
        return len(self._parked)

    def replay_parked(self, limit: int | None = None) -> None:
        """Move parked messages (oldest first, at most ``limit``) to the retry queue."""
        for seq in sorted(self._parked)[:limit]:
            message = self._parked.pop(seq)
            message.retry_count = 0
            message.parked_seq = seq
            insort(self._retry, message, key=lambda m: m.key)

    # ------------------------------------------------------------------ delivery
    def pump(self, now: float) -> list[Delivery]:
        """Hand out as many messages as the consumers have room for."""
        deliveries: list[Delivery] = []
        budget = _SCAN_BATCHES
        self.needs_pump = False
        while self._consumers.has_room():
            message = self._peek()
            if message is None:
                if budget == 0:
                    self.needs_pump = True
                    break
                budget -= 1
                if not self._read_batch():
                    break
                continue
            if self._consumers.holds(message.ack_id):
                break  # the same id is still out (a retry racing its ack): wait for it
            consumer = self._consumers.choose(message, self.settings.consumer_strategy)
            if consumer is None:
                break
            self._pop()
            timeout = self.settings.message_timeout_ms / 1000.0
            self._consumers.hand_out(consumer, message, now + timeout)
            self.total_items += 1
            deliveries.append(Delivery(consumer.consumer_id, message, message.retry_count))
        return deliveries

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_candidate(self) -> int:
        """Key up to which every message read so far has been processed."""
        for prev_key in self._unprocessed.values():
            return prev_key
        return self.cursor

    def due_checkpoint(self, now: float, *, force: bool = False) -> int | None:
        """The checkpoint to write now, if the group's policy (or ``force``) asks for one."""
        processed = self._processed - self._processed_at_checkpoint
        candidate = self.checkpoint_candidate()
        if processed <= 0 or candidate == self.last_checkpoint:
            return None
        elapsed_ms = (now - self._checkpoint_time) * 1000.0
        if (
            force
            or processed >= self.settings.max_checkpoint_count
            or (
                processed >= self.settings.min_checkpoint_count
                and elapsed_ms >= self.settings.checkpoint_after_ms
            )
        ):
            return candidate
        return None

    def checkpoint_written(self, checkpoint: int, now: float) -> None:
        self.last_checkpoint = checkpoint
        self._processed_at_checkpoint = self._processed
        self._checkpoint_time = now

    # ------------------------------------------------------------------ statistics
    @property
    def in_flight_count(self) -> int:
        return self._consumers.in_flight_count

    @property
    def retry_count(self) -> int:
        return len(self._retry)

    @property
    def buffered_count(self) -> int:
        return len(self._buffer)

    # ------------------------------------------------------------------ internals
    def _peek(self) -> Message | None:
        if self._retry:
            return self._retry[0]
        return self._buffer[0] if self._buffer else None

    def _pop(self) -> None:
        if self._retry:
            self._retry.pop(0)
        else:
            self._buffer.popleft()

    def _read_batch(self) -> bool:
        """Read the next batch from the source into the buffer; False when nothing was new."""
        limit = max(1, self.settings.read_batch_size)
        if self.key.is_all:
            records = self._log.read_all(self.cursor, limit)
        else:
            records = self._log.read_stream(self.key.source, self.cursor + 1, limit)
        self.caught_up = len(records) < limit
        for record in records:
            key = record.position if self.key.is_all else record.revision
            prev_key, self.cursor = self.cursor, key
            if self.event_filter is not None and not self.event_filter.matches(record):
                continue
            message = make_message(self._log, record, key, prev_key, self.settings.resolve_links)
            self._unprocessed[key] = prev_key
            self._buffer.append(message)
        return bool(records)

    def _take_retry(self, ack_id: str) -> Message | None:
        for index, message in enumerate(self._retry):
            if message.ack_id == ack_id:
                return self._retry.pop(index)
        return None

    def _retry_or_park(self, message: Message) -> None:
        if message.retry_count >= self.settings.max_retry_count:
            self._park(message)
        else:
            message.retry_count += 1
            insort(self._retry, message, key=lambda m: m.key)

    def _park(self, message: Message) -> None:
        if message.parked_seq is not None:  # a replayed parked message goes back where it was
            self._parked[message.parked_seq] = message
            message.parked_seq = None
            return
        seq = self._next_seq
        self._next_seq += 1
        if self._parked_log is not None:
            self._parked_log.park(self.key, seq, message)
        self._parked[seq] = message
        self._count_processed(message)

    def _mark_processed(self, message: Message) -> None:
        if message.parked_seq is not None:
            if self._parked_log is not None:
                self._parked_log.unpark(self.key, message.parked_seq)
            message.parked_seq = None
        else:
            self._count_processed(message)

    def _count_processed(self, message: Message) -> None:
        if self._unprocessed.pop(message.key, None) is not None:
            self._processed += 1
