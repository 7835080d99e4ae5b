"""Shared helpers for the persistent-subscription group tests: keys, a parked log, a builder."""

from __future__ import annotations

from dataclasses import replace

from standins.eventstore.persistent.group import Group
from standins.eventstore.persistent.messages import Delivery, Message
from standins.eventstore.persistent.settings import (
    ALL,
    EventFilter,
    GroupKey,
    GroupSettings,
)
from tests.unit.eventstore.fake_log import FakeEventLog

__all__ = ["ON_ALL", "STREAM", "RecordingParkedLog", "append", "ids", "make_group"]

STREAM = GroupKey("orders-1", "g")
ON_ALL = GroupKey(ALL, "g")


class RecordingParkedLog:
    """Remembers what the group parked durably."""

    def __init__(self) -> None:
        self.rows: dict[int, Message] = {}

    def park(self, key: GroupKey, seq: int, message: Message) -> None:
        self.rows[seq] = message

    def unpark(self, key: GroupKey, seq: int) -> None:
        del self.rows[seq]


def make_group(
    log: FakeEventLog,
    key: GroupKey = STREAM,
    *,
    cursor: int | None = None,
    parked_log: RecordingParkedLog | None = None,
    event_filter: EventFilter | None = None,
    **settings: object,
) -> Group:
    base = GroupSettings(message_timeout_ms=1000, checkpoint_after_ms=0)
    return Group(
        key,
        replace(base, **settings),  # type: ignore[arg-type]
        log,
        cursor=(0 if key.is_all else -1) if cursor is None else cursor,
        event_filter=event_filter,
        parked_log=parked_log,
    )


def ids(deliveries: list[Delivery]) -> list[str]:
    return [d.message.ack_id for d in deliveries]


def append(log: FakeEventLog, count: int, stream: str = "orders-1") -> list[str]:
    return [log.append(stream).event_id for _ in range(count)]
