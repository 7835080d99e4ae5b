"""Persistent subscription group settings, start points and $all filters: values and checks."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from standins.eventstore.log import RecordedEvent

__all__ = [
    "ALL",
    "EventFilter",
    "FilterTarget",
    "GroupKey",
    "GroupSettings",
    "StartKind",
    "StartPoint",
    "invalid_reason",
]

ALL = "$all"
"""The event source name of groups on the global log."""

STRATEGIES = ("DispatchToSingle", "RoundRobin", "Pinned", "PinnedByCorrelation")
"""Consumer strategy names, in the order of the wire enum (PinnedByCorrelation has no enum)."""


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """Identity of a group: its event source (a stream name or ``$all``) and its name."""

    source: str
    group: str

    @property
    def is_all(self) -> bool:
        return self.source == ALL

    @property
    def subscription_id(self) -> str:
        """What the consumer confirmation carries: ``<source>::<group>``."""
        return f"{self.source}::{self.group}"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupSettings:
    """The tunables of a group, exactly as clients set and read them back."""

    resolve_links: bool = False
    extra_statistics: bool = False
    max_retry_count: int = 10
    min_checkpoint_count: int = 10
    max_checkpoint_count: int = 1000
    max_subscriber_count: int = 5
    live_buffer_size: int = 500
    read_batch_size: int = 200
    history_buffer_size: int = 500
    message_timeout_ms: int = 30_000
    checkpoint_after_ms: int = 2_000
    consumer_strategy: str = "DispatchToSingle"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GroupSettings:
        known = cls.__dataclass_fields__
        data: dict[str, Any] = {k: v for k, v in json.loads(text).items() if k in known}
        return cls(**data)


def invalid_reason(settings: GroupSettings) -> str | None:
    """Why these settings cannot run a group (the server answers "failed"), or None."""
    if settings.consumer_strategy not in STRATEGIES:
        return f"Consumer strategy '{settings.consumer_strategy}' does not exist."
    if settings.read_batch_size >= settings.history_buffer_size:
        return "Read buffer size must be less than the history buffer size."
    if settings.read_batch_size <= 0:
        return "Read batch size must be positive."
    if settings.message_timeout_ms < 0 or settings.checkpoint_after_ms < 0:
        return "Timeouts must not be negative."
    if settings.max_retry_count < 0 or settings.max_subscriber_count < 0:
        return "Counts must not be negative."
    if settings.min_checkpoint_count > settings.max_checkpoint_count:
        return "Minimum checkpoint count must not exceed the maximum checkpoint count."
    return None


class StartKind(Enum):
    """Where a group starts reading."""

    START = "start"
    END = "end"
    AT = "at"  # a stream revision or an $all commit position, inclusive


@dataclass(frozen=True, slots=True)
class StartPoint:
    """A group's start point as the client asked for it (``end`` is reported as -1)."""

    kind: StartKind
    value: int = 0

    def describe(self, is_all: bool) -> str:
        """The ``start_from`` text of GetInfo: ``0``/``-1``/``<n>`` or ``C:<p>/P:<p>``."""
        number = {StartKind.START: 0, StartKind.END: -1}.get(self.kind, self.value)
        return f"C:{number}/P:{number}" if is_all else str(number)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind.value, "value": self.value})

    @classmethod
    def from_json(cls, text: str) -> StartPoint:
        data = json.loads(text)
        return cls(StartKind(data["kind"]), int(data["value"]))


class FilterTarget(Enum):
    """What an $all filter looks at."""

    STREAM = "stream"
    EVENT_TYPE = "event_type"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """A server-side $all filter: regex (search semantics) or any of a list of prefixes."""

    target: FilterTarget
    regex: str = ""
    prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.regex:
            re.compile(self.regex)  # fail early, at group creation, on a bad pattern

    def matches(self, event: RecordedEvent) -> bool:
        value = event.stream if self.target is FilterTarget.STREAM else event.type
        if self.regex:
            return _compiled(self.regex).search(value) is not None
        return any(value.startswith(p) for p in self.prefixes)

    def to_json(self) -> str:
        return json.dumps(
            {"target": self.target.value, "regex": self.regex, "prefixes": list(self.prefixes)}
        )

    @classmethod
    def from_json(cls, text: str) -> EventFilter:
        data = json.loads(text)
        return cls(FilterTarget(data["target"]), data["regex"], tuple(data["prefixes"]))


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(regex: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(regex)
    if pattern is None:
        pattern = _PATTERNS[regex] = re.compile(regex)
    return pattern
