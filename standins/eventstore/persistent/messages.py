"""What travels through a persistent subscription group: messages, deliveries, consumers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from standins.eventstore.log import EventLog, RecordedEvent
from standins.eventstore.persistent.settings import GroupKey

__all__ = [
    "Consumer",
    "Delivery",
    "Message",
    "NackAction",
    "ParkedLog",
    "make_message",
]


class NackAction(Enum):
    """What a consumer asks for a message it could not handle."""

    UNKNOWN = 0
    PARK = 1
    RETRY = 2
    SKIP = 3
    STOP = 4


@dataclass(slots=True, eq=False)
class Message:
    """One event on its way through a group."""

    event: RecordedEvent  # what the consumer sees (the resolved target of a link)
    link: RecordedEvent | None  # the link record when one was resolved
    key: int  # ordering key of the original record
    prev_key: int  # key of the record considered just before (checkpoint when this is lowest)
    retry_count: int = 0
    parked_seq: int | None = None  # set while a replayed parked message is outstanding

    @property
    def original(self) -> RecordedEvent:
        """The record as stored in the source (the link itself when one was resolved)."""
        return self.link if self.link is not None else self.event

    @property
    def ack_id(self) -> str:
        """The id the consumer acknowledges: the original record's event id."""
        return self.original.event_id


def make_message(
    log: EventLog, record: RecordedEvent, key: int, prev_key: int, resolve_links: bool
) -> Message:
    """A message for ``record``, resolving a ``$>`` link when asked (a dangling link is sent
    as itself, so that it can still be acknowledged)."""
    if resolve_links and record.type == "$>":
        target = log.resolve_link(record)
        if target is not None:
            return Message(target, record, key, prev_key)
    return Message(record, None, key, prev_key)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message handed to a consumer (``message.retry_count`` as sent)."""

    consumer_id: str
    message: Message
    retry_count: int


@dataclass(slots=True, eq=False)
class Consumer:
    """A connected consumer and the messages it has not acknowledged yet."""

    consumer_id: str
    buffer_size: int
    connection_name: str = ""
    in_flight: dict[str, Message] = field(default_factory=dict)
    total_items: int = 0

    @property
    def free_slots(self) -> int:
        return max(0, self.buffer_size - len(self.in_flight))


class ParkedLog(Protocol):
    """Where parked messages are kept durably (seq orders them)."""

    def park(self, key: GroupKey, seq: int, message: Message) -> None: ...

    def unpark(self, key: GroupKey, seq: int) -> None: ...
