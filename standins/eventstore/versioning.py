"""Expected-version and idempotency rules of an append, as EventStoreDB applies them (pure).

``check_append`` follows ESDB's commit check: tombstone, ``stream_exists``, then the
position-based idempotency of re-sent event ids, then the plain version comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendCheck",
    "StoreError",
    "StreamDeletedError",
    "WrongExpectedVersionError",
    "check_append",
]

ANY = -2
NO_STREAM = -1
STREAM_EXISTS = -4


class StoreError(Exception):
    """A write refused by the store's rules."""


class StreamDeletedError(StoreError):
    """The stream is tombstoned (or soft-deleted, for ``stream_exists``)."""

    def __init__(self, stream: str) -> None:
        super().__init__(f"Event stream '{stream}' is deleted.")
        self.stream = stream


class WrongExpectedVersionError(StoreError):
    """The expected version does not match the stream's last event number."""

    def __init__(self, stream: str, expected: int, current: int) -> None:
        super().__init__(f"Wrong expected version {expected} for '{stream}' (actual {current})")
        self.stream = stream
        self.expected = expected
        self.current = current


@dataclass(frozen=True, slots=True)
class Idempotent:
    """The events were already written: the last matching event's revision and position."""

    revision: int
    position: int


@dataclass(frozen=True, slots=True)
class AppendCheck:
    """What the store knows about a stream when checking an append to it."""

    stream: str
    last: int  # last event number, -1 if none
    tombstoned: bool
    soft_deleted: bool
    has_metadata: bool  # the `$$` stream has events
    at_revision: Callable[[int], tuple[str, int] | None]  # revision -> (event id, position)
    find_id: Callable[[str], tuple[int, int] | None]  # event id -> (revision, position)


def check_append(check: AppendCheck, expected: int, ids: Sequence[str]) -> Idempotent | None:
    """None when the events must be written; ``Idempotent`` for a re-send; raise otherwise."""
    stream, last = check.stream, check.last
    if check.tombstoned:
        raise StreamDeletedError(stream)
    if expected == STREAM_EXISTS:
        if check.soft_deleted:
            raise StreamDeletedError(stream)
        if last < 0 and not check.has_metadata:
            raise WrongExpectedVersionError(stream, expected, last)
    if not ids:
        if expected >= NO_STREAM and expected != last:
            raise WrongExpectedVersionError(stream, expected, last)
        return None
    if expected in (ANY, STREAM_EXISTS):
        return _check_by_ids(check, expected, ids)
    if expected < last:
        return _check_by_positions(check, expected, ids)
    if expected > last:
        raise WrongExpectedVersionError(stream, expected, last)
    return None


def _check_by_ids(check: AppendCheck, expected: int, ids: Sequence[str]) -> Idempotent | None:
    found = check.find_id(ids[0])
    if found is None:
        return None
    for event_id in ids[1:]:
        later = check.find_id(event_id)
        if later is None:
            raise WrongExpectedVersionError(check.stream, expected, check.last)
        found = later
    return Idempotent(revision=found[0], position=found[1])


def _check_by_positions(check: AppendCheck, expected: int, ids: Sequence[str]) -> Idempotent | None:
    match: tuple[str, int] | None = None
    for index, event_id in enumerate(ids):
        revision = expected + 1 + index
        match = check.at_revision(revision) if revision <= check.last else None
        if match is not None and match[0] == event_id:
            continue
        if index == 0 and expected == NO_STREAM and check.soft_deleted:
            return None  # re-creating a soft-deleted stream
        raise WrongExpectedVersionError(check.stream, expected, check.last)
    assert match is not None
    return Idempotent(revision=expected + len(ids), position=match[1])
