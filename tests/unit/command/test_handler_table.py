"""The handler table: one entry per one-step command, doing what the Grid's own verb does."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.grid import CommandOutcome, Grid
from domain.values import Command, Direction, Position, RoverId, Topology
from services.command.application import commands
from services.command.application.commands import (
    CreateGrid,
    CreateRover,
    ExecuteRoverCommands,
    MoveRoverBackward,
    MoveRoverForward,
    RoverStep,
    TurnRoverLeft,
    TurnRoverRight,
    fingerprint,
)
from services.command.application.handlers import ROVER_STEPS
from tests.unit.command.conftest import World

VERBS: dict[type[RoverStep], Callable[[Grid, RoverId], CommandOutcome]] = {
    MoveRoverForward: Grid.move_forward,
    MoveRoverBackward: Grid.move_backward,
    TurnRoverLeft: Grid.turn_left,
    TurnRoverRight: Grid.turn_right,
}


def test_every_one_step_command_has_one_entry_and_no_two_share_a_domain_command() -> None:
    declared = {
        kind
        for kind in vars(commands).values()
        if isinstance(kind, type) and issubclass(kind, RoverStep) and kind is not RoverStep
    }
    assert set(ROVER_STEPS) == declared
    assert len(set(ROVER_STEPS.values())) == len(ROVER_STEPS)
    assert set(ROVER_STEPS.values()) <= set(Command)


def _grid() -> Grid:
    grid = Grid.create("g", 3, 3)
    grid.create_rover("r", Position(1, 1), Direction.N)
    grid.clear_changes()
    return grid


@pytest.mark.parametrize("kind", list(VERBS), ids=lambda kind: kind.__name__)
def test_each_entry_records_what_the_grids_own_verb_records(kind: type[RoverStep]) -> None:
    by_table = _grid().execute(RoverId("r"), (ROVER_STEPS[kind],))
    by_verb = VERBS[kind](_grid(), RoverId("r"))
    assert by_table == by_verb


def test_fingerprints_are_those_stored_before_the_table() -> None:
    # A request_id stored by an older release must still match after an upgrade.
    moved = MoveRoverForward(grid_id="g", rover_id="r", request_id="x")
    assert fingerprint(moved) == "2b3b24cb2fb1ad36612602dd6cb24676"
    assert fingerprint(TurnRoverRight(grid_id="g", rover_id="r")) == (
        "1d26875e973d51cd439fcb6ad894059c"
    )
    # Positions, enums and obstacle tuples too (digests of the asdict-based fingerprint).
    cells = (Position(1, 2), Position(3, 0))
    created = CreateGrid(
        grid_id="g", width=5, height=4, topology=Topology.TOROIDAL, obstacles=cells
    )
    assert fingerprint(created) == "ff2a7b6ed03333a93d46fb756207429c"
    landed = CreateRover(grid_id="g", rover_id="r", position=Position(1, 1), facing=Direction.W)
    assert fingerprint(landed) == "26e2de5459a5613df50556935c21df98"
    executed = ExecuteRoverCommands(grid_id="g", rover_id="r", commands="FFRL")
    assert fingerprint(executed) == "5a6b63d97932b2d2964c894d7d58e24f"


@pytest.mark.parametrize("kind", list(VERBS), ids=lambda kind: kind.__name__)
async def test_the_stored_metadata_names_the_command(world: World, kind: type[RoverStep]) -> None:
    await world.app.handlers.handle(CreateGrid(grid_id="g", width=3, height=3))
    await world.app.handlers.handle(
        CreateRover(grid_id="g", rover_id="r", position=Position(1, 1), facing=Direction.N)
    )
    await world.app.handlers.handle(kind(grid_id="g", rover_id="r"))
    assert world.store.all_events()[-1].metadata.command == kind.__name__
