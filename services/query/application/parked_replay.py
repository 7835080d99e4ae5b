"""The admin side of parked events: every consumer's list, and replays by id in one call.

Each replay is ``ParkedReplays.replay`` (application/parked.py): a projector's event is
replayed by projecting its grid on from the read model's version, a broadcaster's is
checked, a publisher's is released to the command service's publisher; an event that still
cannot be read or applied stays parked, with the reason in the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common.parked import CONSUMERS, ParkedEvent
from services.query.application.errors import InvalidQueryError
from services.query.application.parked import RELEASED, ParkedReplays

__all__ = ["ParkedReplay"]

_NAMED = 5  # unknown ids named in a refusal


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What replaying one parked event did: resolved, and how (or why not)."""

    parked_id: str
    resolved: bool
    detail: str


class ParkedReplay:
    """Lists and replays the parked events of the read side's consumers."""

    def __init__(self, replays: ParkedReplays) -> None:
        self._replays = replays

    async def unresolved(self, consumer: str = "") -> list[ParkedEvent]:
        """Unresolved parked events of ``consumer`` ("": every consumer), oldest first."""
        if consumer and consumer not in CONSUMERS:
            raise InvalidQueryError(
                f"consumer {consumer!r} is not one of {', '.join(CONSUMERS)}",
                field="consumer",
                reason="UNKNOWN_CONSUMER",
            )
        found: list[ParkedEvent] = []
        for name in [consumer] if consumer else CONSUMERS:
            found += await self._replays.unresolved(name)
        return sorted(found, key=lambda p: p.parked_at_ms)

    async def replay(self, ids: Sequence[str]) -> list[ReplayOutcome]:
        """Replay the parked events ``ids`` (empty: every unresolved one), oldest first."""
        entries = {p.parked_id: p for p in await self.unresolved()}
        unknown = [i for i in ids if i not in entries]
        if unknown:
            # A few named, the rest counted: the message must fit a client's metadata limit.
            named = ", ".join(unknown[:_NAMED])
            more = f" and {len(unknown) - _NAMED} more" if len(unknown) > _NAMED else ""
            raise InvalidQueryError(
                f"no unresolved parked event with id {named}{more}",
                field="ids",
                reason="PARKED_EVENT_NOT_FOUND",
            )
        chosen = [entries[i] for i in dict.fromkeys(ids)] if ids else list(entries.values())
        outcomes = []
        for entry in chosen:
            result = await self._replays.replay(entry.parked_id, entry.consumer)
            if result.how == RELEASED:
                detail = (
                    f"released: the command service's publisher publishes grid "
                    f"{entry.event.grid_id}'s held events from version {result.version} on "
                    "(an event it still cannot publish is parked again)"
                )
            elif result.resolved:
                detail = (
                    f"{result.how}: grid {entry.event.grid_id} at version {result.version}"
                    f" ({result.applied} events applied)"
                )
            else:
                detail = f"still failing: {result.reason}"
            outcomes.append(ReplayOutcome(entry.parked_id, result.resolved, detail))
        return outcomes
