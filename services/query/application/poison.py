"""The projector's poison events: an event it cannot project becomes a parked record, and
its grid is held at the last good version (see Projector)."""

from __future__ import annotations

from collections.abc import Callable

from services.common.envelope import Envelope, integration_stream
from services.common.logs import get_logger
from services.common.parked import PoisonEvent, PoisonEventError
from services.common.parked_holds import Holds
from services.query.application.errors import GapNotHealableError
from services.query.application.ports import EventFeed, HashUpdate

__all__ = ["Holds", "Projection", "effect_of", "heal"]

_log = get_logger(__name__)
Projection = Callable[[Envelope], HashUpdate]


def effect_of(
    projection: Projection, envelope: Envelope, position: int
) -> HashUpdate | PoisonEvent:
    """``projection(envelope)``, or the poison event it is when the projection raises
    (``position``: its commit position, 0 when unknown)."""
    try:
        return projection(envelope)
    except Exception as error:  # a bug or a new case in the projection: park the event
        return PoisonEvent(
            stream=integration_stream(envelope.grid_id),
            revision=envelope.sequence - 1,
            commit_position=position,
            event_id=str(envelope.event_id),
            event_type=type(envelope.event).__name__,
            grid_id=str(envelope.grid_id),
            reason=f"projection failed: {error!r}",
        )


async def heal(
    feed: EventFeed, projection: Projection, grid_id: str, first: int, last: int
) -> tuple[list[HashUpdate], PoisonEvent | None]:
    """The updates of a grid's events ``first..last``, complete and in order, or
    GapNotHealableError; cut short at a poison event, returned with the updates before it."""
    poison: PoisonEvent | None = None
    try:
        found = await feed.read_grid(grid_id, first, last)
    except PoisonEventError as error:
        found = [e for e in error.before if isinstance(e, Envelope)]
        poison = error.poison
    found.sort(key=lambda e: e.sequence)
    sequences = [e.sequence for e in found]
    end = poison.sequence - 1 if poison is not None else last
    if sequences != list(range(first, end + 1)):
        raise GapNotHealableError(
            f"grid {grid_id!r} needs sequences {first}..{end}; the store has {sequences}"
        )
    updates: list[HashUpdate] = []
    for envelope in found:
        effect = effect_of(projection, envelope, 0)
        if isinstance(effect, PoisonEvent):
            poison = effect
            break
        updates.append(effect)
    _log.info("healed a gap", grid_id=grid_id, first=first, last=first + len(updates) - 1)
    return updates, poison
