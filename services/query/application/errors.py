"""Errors of the read side's use cases (the gRPC edge maps each to one status).

A grid or rover that does not exist is the domain's GridNotFoundError / RoverNotFoundError.
"""

from __future__ import annotations

__all__ = [
    "GapNotHealableError",
    "GenerationChangedError",
    "InvalidQueryError",
    "ParkedEventNotFoundError",
    "QueryError",
    "ReadModelRewoundError",
    "ReadModelUnavailableError",
    "VersionConflictError",
    "VersionNotReachedError",
]


class QueryError(Exception):
    """Base of the errors a query reports to its caller."""


class ReadModelUnavailableError(QueryError):
    """The read model cannot be reached right now; the caller should retry later."""


class InvalidQueryError(QueryError):
    """A malformed argument: ``field`` names it, ``reason`` is UPPER_SNAKE."""

    def __init__(self, message: str, *, field: str, reason: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class ParkedEventNotFoundError(QueryError):
    """No unresolved parked event of ``consumer`` has the id ``parked_id``."""

    def __init__(self, consumer: str, parked_id: str) -> None:
        super().__init__(f"the {consumer} has no unresolved parked event {parked_id!r}")
        self.consumer = consumer
        self.parked_id = parked_id


class VersionNotReachedError(QueryError):
    """min_version was not projected in time; ``by_deadline`` when the call's deadline ran out."""

    def __init__(self, grid_id: str, wanted: int, projected: int, *, by_deadline: bool) -> None:
        super().__init__(
            f"grid {grid_id!r} is projected up to version {projected}; "
            f"version {wanted} was not reached in time, retry"
        )
        self.grid_id = grid_id
        self.wanted = wanted
        self.projected = projected
        self.by_deadline = by_deadline


class VersionConflictError(Exception):
    """A commit found a grid at another version than the projector expected."""

    def __init__(self, grid_id: str, actual: int) -> None:
        super().__init__(f"grid {grid_id!r} is at version {actual} in the read model")
        self.grid_id = grid_id
        self.actual = actual


class GenerationChangedError(Exception):
    """The generation a live projector writes to is no longer active (a rebuild swapped)."""


class GapNotHealableError(Exception):
    """The store does not hold the events a gap needs; the projector waits and retries."""


class ReadModelRewoundError(Exception):
    """The read model lost writes: it counts fewer commits than a projector already saw.

    What a restore from an older dump or a failover to a lagging replica does; ``stored`` is
    the commit count it holds now, ``seen`` the one the projector saw.
    """

    def __init__(self, generation: int, stored: int, seen: int) -> None:
        super().__init__(
            f"the read model counts {stored} commits, fewer than the {seen} seen before: "
            f"it lost writes (generation {generation})"
        )
        self.generation = generation
        self.stored = stored
        self.seen = seen
