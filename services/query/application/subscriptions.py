"""Subscriptions use case: where each subscription of the system stands, for operators.

Three subscriptions read the store: the command service's publisher (domain events, its
checkpoint in the event store), the query service's projector (integration events, its
checkpoint in the read model) and the broadcaster (integration events, followed live from
the end: no checkpoint, so no position or lag to report; its parked events are). A fourth
when the command inbox has run: its persistent subscription group (competing consumers, its
checkpoint and parked commands kept by the store itself).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from services.common.inbox_names import INBOX_CONSUMER, INBOX_STREAM_PREFIX
from services.common.parked import BROADCASTER, PROJECTOR, PUBLISHER, ParkedEvents
from services.common.publisher_checkpoint import CheckpointUnreadableError
from services.query.application.lag import measure_lag
from services.query.application.ports import (
    EventFeed,
    InboxProgress,
    PublisherProgress,
    ReadModel,
)

__all__ = ["SubscriptionState", "SubscriptionStatus", "Subscriptions"]


class SubscriptionState(Enum):
    """What a subscription is doing (see admin.proto SubscriptionState)."""

    UNKNOWN = "unknown"  # not observable from here (the broadcaster without parked events)
    ACTIVE = "active"  # caught up
    STANDBY = "standby"  # no instance holds its lease
    CATCHING_UP = "catching up"  # behind the store
    DEGRADED = "degraded"  # unresolved parked events
    STOPPED = "stopped"  # cannot run: its checkpoint cannot be trusted (see ``problem``)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionStatus:
    """One subscription: its position, lag, state, parked count and lease holder."""

    name: str
    source: str
    position: int
    has_checkpoint: bool
    lag_events: int
    lag_capped: bool
    lag_seconds: float
    state: SubscriptionState
    parked: int
    holder: str
    problem: str = ""  # why it is STOPPED, in words ("" otherwise)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _state(holder: str, behind: int, parked: int) -> SubscriptionState:
    if not holder:
        return SubscriptionState.STANDBY
    if parked:
        return SubscriptionState.DEGRADED
    return SubscriptionState.CATCHING_UP if behind else SubscriptionState.ACTIVE


class Subscriptions:
    """Reads every subscription's state; ``projector_holder`` names the instance holding the
    projector's lease ("" when none)."""

    def __init__(
        self,
        *,
        feed: EventFeed,
        read_model: ReadModel,
        publisher: PublisherProgress,
        parked: ParkedEvents | None,
        projector_holder: Callable[[], Awaitable[str]],
        cap: int,
        inbox: InboxProgress | None = None,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._feed = feed
        self._model = read_model
        self._publisher = publisher
        self._parked = parked
        self._projector_holder = projector_holder
        self._cap = cap
        self._inbox = inbox
        self._now_ms = now_ms

    async def _parked_count(self, consumer: str) -> int:
        return await self._parked.count(consumer) if self._parked is not None else 0

    async def statuses(self) -> list[SubscriptionStatus]:
        """Publisher, projector and broadcaster, in that order; then the command inbox's
        group when it exists."""
        found = [await self._publisher_status(), await self._projector(), await self._broadcaster()]
        inbox = await self._inbox_status()
        return found if inbox is None else [*found, inbox]

    async def _publisher_status(self) -> SubscriptionStatus:
        parked = await self._parked_count(PUBLISHER)
        try:
            checkpoint = await self._publisher.checkpoint()
        except CheckpointUnreadableError as error:
            return self._stopped_publisher(parked, f"its checkpoint stream's last event is {error}")
        position = checkpoint.position if checkpoint else None
        holder = checkpoint.holder if checkpoint else ""
        if position is not None and position > ((await self._publisher.newest()) or -1):
            return self._stopped_publisher(
                parked,
                f"its checkpoint names position {position}, beyond the newest domain event",
                position=position,
                holder=holder,
            )
        behind, first_ms = await self._publisher.count_after(position, self._cap)
        return SubscriptionStatus(
            name=PUBLISHER,
            source="$all grid-*",
            position=position or 0,
            has_checkpoint=position is not None,
            lag_events=behind,
            lag_capped=behind >= self._cap,
            lag_seconds=max(0, self._now_ms() - first_ms) / 1000 if behind and first_ms else 0.0,
            state=_state(holder, behind, parked),
            parked=parked,
            holder=holder,
        )

    def _stopped_publisher(
        self, parked: int, problem: str, *, position: int = 0, holder: str = ""
    ) -> SubscriptionStatus:
        """The publisher cannot trust its checkpoint: it publishes nothing until an operator
        writes a valid one (docs/operations.md, "Parked events")."""
        return SubscriptionStatus(
            name=PUBLISHER,
            source="$all grid-*",
            position=position,
            has_checkpoint=True,
            lag_events=0,
            lag_capped=False,
            lag_seconds=0.0,
            state=SubscriptionState.STOPPED,
            parked=parked,
            holder=holder,
            problem=problem,
        )

    async def _projector(self) -> SubscriptionStatus:
        lag = await measure_lag(self._feed, self._model, cap=self._cap, now_ms=self._now_ms)
        checkpoint = await self._model.checkpoint(lag.generation)
        parked = await self._parked_count(PROJECTOR)
        holder = await self._projector_holder()
        return SubscriptionStatus(
            name=PROJECTOR,
            source="$all integration-*",
            position=lag.checkpoint,
            has_checkpoint=checkpoint is not None,
            lag_events=lag.events_behind,
            lag_capped=lag.capped,
            lag_seconds=lag.lag_ms / 1000,
            state=_state(holder, lag.events_behind, parked),
            parked=parked,
            holder=holder,
        )

    async def _broadcaster(self) -> SubscriptionStatus:
        parked = await self._parked_count(BROADCASTER)
        state = SubscriptionState.DEGRADED if parked else SubscriptionState.UNKNOWN
        return SubscriptionStatus(
            name=BROADCASTER,
            source="$all integration-* (live, from the end)",
            position=0,
            has_checkpoint=False,
            lag_events=0,
            lag_capped=False,
            lag_seconds=0.0,
            state=state,
            parked=parked,
            holder="",
        )

    async def _inbox_status(self) -> SubscriptionStatus | None:
        group = await self._inbox.group(self._cap) if self._inbox is not None else None
        if group is None:
            return None
        state = SubscriptionState.DEGRADED if group.parked else SubscriptionState.ACTIVE
        if not group.parked and group.behind:
            state = SubscriptionState.CATCHING_UP
        return SubscriptionStatus(
            name=INBOX_CONSUMER,
            source=f"$all {INBOX_STREAM_PREFIX}* (persistent group {group.name})",
            position=group.position or 0,
            has_checkpoint=group.position is not None,
            lag_events=group.behind,
            lag_capped=group.behind >= self._cap,
            lag_seconds=(
                max(0, self._now_ms() - group.first_ms) / 1000
                if group.behind and group.first_ms
                else 0.0
            ),
            state=state,
            parked=group.parked,
            holder="",  # competing consumers: no one instance holds it
        )
