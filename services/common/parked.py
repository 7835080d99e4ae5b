"""Parked (poison) events: what a consumer could not decode or apply, kept with its reason.

A consumer (the projector, the broadcaster, the publisher) that meets a stored event it
cannot decode, or whose effect it cannot compute, parks it through the ``ParkedEvents`` port
and goes on with the rest. Each consumer has its own list (in EventStoreDB, the stream
``rover-parked-{name}``, as EventStoreDB keeps ``$persistentsubscription-...-parked``); an
entry is resolved once an operator replayed it after a fix. The parked id is derived from
(consumer, event id), so parking one event twice (a restart, several instances) lists it
once.

Pure (standard library): application layers of every service use it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Protocol

from services.common.envelope import integration_stream

__all__ = [
    "BROADCASTER",
    "CONSUMERS",
    "PROJECTOR",
    "PUBLISHER",
    "InMemoryParkedEvents",
    "ParkedEvent",
    "ParkedEvents",
    "PoisonEvent",
    "PoisonEventError",
    "grid_of_stream",
    "parked_fields",
    "parked_id",
    "parked_stream",
]

PROJECTOR = "projector"
"""The consumer name of the query service's projector."""
BROADCASTER = "broadcaster"
"""The consumer name of the broadcaster's feed."""
PUBLISHER = "publisher"
"""The consumer name of the command service's publisher (domain events it cannot publish)."""
CONSUMERS = (PROJECTOR, BROADCASTER, PUBLISHER)
"""Every consumer that parks events, in the order lists show them."""

# Fixed namespace: the same (consumer, stored event) is always the same parked id.
_PARKED_NAMESPACE = uuid.UUID("0b6f3c1e-4d2a-4f57-9a0c-7e5d2b8c9f31")
_INTEGRATION_PREFIX = integration_stream("")


def parked_stream(consumer: str) -> str:
    """The stream of one consumer's parked events (outside every category we subscribe to)."""
    return f"rover-parked-{consumer}"


def parked_id(consumer: str, event_id: str) -> str:
    """The id of a parked event: the same for the same consumer and stored event."""
    return str(uuid.uuid5(_PARKED_NAMESPACE, f"{consumer}/{event_id}"))


def grid_of_stream(stream: str) -> str:
    """The grid of an ``integration-{grid}`` stream; "" for any other stream."""
    if stream.startswith(_INTEGRATION_PREFIX):
        return stream[len(_INTEGRATION_PREFIX) :]
    return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PoisonEvent:
    """A stored event a consumer could not decode or apply, and why (``reason``).

    ``grid_id`` is "" when unknown; in an integration stream revision ``n`` is the grid's
    sequence ``n + 1``. ``event_type`` is the stored event's type (or, for an event that
    decoded but could not be applied, its domain event's name).
    """

    stream: str
    revision: int
    commit_position: int
    event_id: str
    event_type: str
    grid_id: str
    reason: str

    @property
    def sequence(self) -> int:
        """The grid's version after the event (integration streams)."""
        return self.revision + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedEvent:
    """One parked event of one consumer: the poison event, when it was parked, and its id."""

    parked_id: str
    consumer: str
    event: PoisonEvent
    parked_at_ms: int

    @classmethod
    def of(cls, consumer: str, event: PoisonEvent, parked_at_ms: int) -> ParkedEvent:
        """The record parking ``event`` for ``consumer`` (its id derived from both)."""
        return cls(
            parked_id=parked_id(consumer, event.event_id),
            consumer=consumer,
            event=event,
            parked_at_ms=parked_at_ms,
        )


def parked_fields(parked: ParkedEvent) -> dict[str, str | int]:
    """A parked record's fields, flat, as its log line and its stored body show them."""
    return {
        "parked_id": parked.parked_id,
        "consumer": parked.consumer,
        **asdict(parked.event),
        "parked_at_ms": parked.parked_at_ms,
    }


class PoisonEventError(ValueError):
    """A read met an event it cannot decode: ``poison``; ``before`` is what it read first."""

    def __init__(self, poison: PoisonEvent, before: Sequence[object] = ()) -> None:
        super().__init__(f"{poison.stream}@{poison.revision}: {poison.reason}")
        self.poison = poison
        self.before = list(before)


class ParkedEvents(Protocol):
    """The parked events of every consumer, parked and resolved (a port)."""

    async def park(self, parked: ParkedEvent) -> bool:
        """Keep ``parked``; False (and nothing written) when it is already parked and
        unresolved. StoreUnavailableError when the store cannot be reached."""
        ...

    async def unresolved(self, consumer: str) -> list[ParkedEvent]:
        """The consumer's parked events not resolved yet, in the order they were parked."""
        ...

    async def resolve(self, consumer: str, parked_id: str, how: str) -> bool:
        """Mark a parked event resolved (``how``: e.g. "replayed"); False when it is not
        parked or already resolved."""
        ...

    async def count(self, consumer: str) -> int:
        """How many of the consumer's parked events are unresolved."""
        ...


class InMemoryParkedEvents:
    """The ParkedEvents port in a dictionary, for unit tests and a rebuild's own projector."""

    def __init__(self) -> None:
        self._open: dict[str, dict[str, ParkedEvent]] = {}
        self.resolved: list[tuple[str, str, str]] = []  # (consumer, parked id, how)
        self._lock = asyncio.Lock()

    async def park(self, parked: ParkedEvent) -> bool:
        async with self._lock:
            entries = self._open.setdefault(parked.consumer, {})
            if parked.parked_id in entries:
                return False
            entries[parked.parked_id] = replace(parked)
            return True

    async def unresolved(self, consumer: str) -> list[ParkedEvent]:
        return list(self._open.get(consumer, {}).values())

    async def resolve(self, consumer: str, parked_id: str, how: str) -> bool:
        async with self._lock:
            if self._open.get(consumer, {}).pop(parked_id, None) is None:
                return False
            self.resolved.append((consumer, parked_id, how))
            return True

    async def count(self, consumer: str) -> int:
        return len(self._open.get(consumer, {}))
