"""What each event means for its rover, defined once; commands dispatch exhaustively."""

from __future__ import annotations

import functools
import typing

import pytest

from domain.events import GridCreated, GridEvent, RoverEvent
from domain.fast_fold import GridFold
from domain.rules import simulate
from domain.state import evolve, rover_after
from domain.values import Command, Direction, Position, RoverId
from tests.support.events import EVENT_TYPES, history


def test_every_event_but_grid_created_concerns_one_rover() -> None:
    assert set(typing.get_args(RoverEvent)) == set(EVENT_TYPES) - {GridCreated}


@pytest.mark.parametrize("event_type", typing.get_args(RoverEvent), ids=lambda t: t.__name__)
def test_the_rover_after_an_event_is_the_rover_in_the_folded_state(
    event_type: type[GridEvent],
) -> None:
    events = history(event_type)
    event = events[-1]
    assert isinstance(event, typing.get_args(RoverEvent))
    state = functools.reduce(evolve, events, None)
    assert state is not None
    assert rover_after(event) == state.rover(event.rover_id)


def test_an_unknown_command_is_refused_rather_than_recorded_as_a_move() -> None:
    """Once a command letter is added, ``simulate`` must say what it does (mypy flags it)."""
    fold = GridFold.start(history(GridCreated)[0])
    stranger = typing.cast(Command, "S")
    with pytest.raises(AssertionError):
        simulate(fold, RoverId("r1"), Position(2, 2), Direction.N, (stranger,))
