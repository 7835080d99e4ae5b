"""GridFold, the in-place fold, equals the plain ``evolve`` for every kind of event."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from domain.errors import EventHistoryInvalidError
from domain.events import GridCreated, GridEvent
from domain.fast_fold import GridFold, replay
from domain.state import GridState, evolve
from tests.support.events import EVENT_TYPES, covered, history


def test_the_histories_cover_every_event_type() -> None:
    assert covered() == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_the_fast_fold_equals_evolve(event_type: type[GridEvent]) -> None:
    events = history(event_type)
    plain = functools.reduce(evolve, events, None)
    assert replay(events) == plain
    fold = GridFold.start(events[0])
    for event in events[1:]:
        fold.apply(event)
    assert fold.freeze() == plain
    # From a state part-way through too, as a snapshot plus its tail is loaded.
    assert replay(events[-1:], functools.reduce(evolve, events[:-1], None)) == plain


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_both_folds_agree_on_histories_that_may_be_impossible(event_type: type[GridEvent]) -> None:
    event = history(event_type)[-1]
    # On a bare grid (its rover never landed) and once more at the end: the same state, or
    # EventHistoryInvalidError from both.
    for events in ([*history(GridCreated), event], [*history(event_type), event]):
        assert _outcome(replay, events) == _outcome(_reduce_evolve, events)


def _reduce_evolve(events: list[GridEvent]) -> GridState:
    state = functools.reduce(evolve, events, None)
    assert state is not None
    return state


def _outcome(fold: Callable[[list[GridEvent]], GridState], events: list[GridEvent]) -> object:
    try:
        return fold(events)
    except EventHistoryInvalidError:
        return "refused"
