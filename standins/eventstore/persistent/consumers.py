"""The consumers of one group: who may join, which one gets a message, and what each holds."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

from standins.eventstore.persistent.errors import MaxSubscribersError
from standins.eventstore.persistent.messages import Consumer, Message
from standins.eventstore.persistent.settings import GroupKey

__all__ = ["ConsumerPool"]


@dataclass(slots=True, eq=False)
class _Outstanding:
    message: Message
    consumer_id: str
    expires_at: float


class ConsumerPool:
    """The connected consumers of a group and the messages they have not acknowledged yet.

    The group decides what to send and what to do with a message that comes back; the pool
    picks a consumer per ``consumer_strategy`` and remembers who holds which message until when.
    """

    def __init__(self, key: GroupKey) -> None:
        self._key = key
        self._members: dict[str, Consumer] = {}
        self._turn = 0  # where the next round-robin search starts
        self._in_flight: dict[str, _Outstanding] = {}

    @property
    def members(self) -> list[Consumer]:
        return list(self._members.values())

    @property
    def in_flight_count(self) -> int:
        return len(self._in_flight)

    def add(self, consumer_id: str, buffer_size: int, connection_name: str, limit: int) -> None:
        """Join ``consumer_id``, unless ``limit`` (when positive) consumers are already in."""
        if limit > 0 and len(self._members) >= limit:
            raise MaxSubscribersError(self._key)
        self._members[consumer_id] = Consumer(consumer_id, max(1, buffer_size), connection_name)

    def remove(self, consumer_id: str) -> list[Message]:
        """Forget a consumer; returns what it had in flight, lowest key first."""
        consumer = self._members.pop(consumer_id, None)
        if consumer is None:
            return []
        messages = sorted(consumer.in_flight.values(), key=lambda m: m.key)
        for message in messages:
            self._in_flight.pop(message.ack_id, None)
        return messages

    def has_room(self) -> bool:
        return any(c.free_slots for c in self._members.values())

    def holds(self, ack_id: str) -> bool:
        return ack_id in self._in_flight

    def choose(self, message: Message, strategy: str) -> Consumer | None:
        """The consumer that should get ``message`` now, or None when none has room."""
        consumers = list(self._members.values())
        if not consumers:
            return None
        if strategy == "DispatchToSingle":
            return next((c for c in consumers if c.free_slots), None)
        if strategy in ("Pinned", "PinnedByCorrelation"):
            pin = _pin_key(message, by_correlation=strategy == "PinnedByCorrelation")
            pinned = consumers[zlib.crc32(pin.encode()) % len(consumers)]
            if pinned.free_slots:
                return pinned
        # RoundRobin, and the fallback of a pinned consumer without room.
        count = len(consumers)
        for step in range(count):
            candidate = consumers[(self._turn + step) % count]
            if candidate.free_slots:
                self._turn = (self._turn + step + 1) % count
                return candidate
        return None

    def hand_out(self, consumer: Consumer, message: Message, expires_at: float) -> None:
        """Record that ``consumer`` holds ``message`` until ``expires_at``."""
        consumer.in_flight[message.ack_id] = message
        self._in_flight[message.ack_id] = _Outstanding(message, consumer.consumer_id, expires_at)
        consumer.total_items += 1

    def take(self, ack_id: str) -> Message | None:
        """Stop tracking ``ack_id``; the message it named, if it was in flight."""
        outstanding = self._in_flight.pop(ack_id, None)
        if outstanding is None:
            return None
        consumer = self._members.get(outstanding.consumer_id)
        if consumer is not None:
            consumer.in_flight.pop(ack_id, None)
        return outstanding.message

    def take_expired(self, now: float) -> list[Message]:
        """Stop tracking every message whose deadline is ``now`` or earlier; lowest key first."""
        expired = [o for o in self._in_flight.values() if o.expires_at <= now]
        messages = [o.message for o in sorted(expired, key=lambda o: o.message.key)]
        for message in messages:
            self.take(message.ack_id)
        return messages


def _pin_key(message: Message, *, by_correlation: bool) -> str:
    if by_correlation:
        try:
            metadata = json.loads(message.event.metadata or b"{}")
        except ValueError:
            metadata = None
        if isinstance(metadata, dict) and isinstance(metadata.get("$correlationId"), str):
            return str(metadata["$correlationId"])
    return message.event.stream
