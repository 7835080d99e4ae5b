"""Moving and turning rovers: kata vectors, blocks, wrapping, collisions and atomicity."""

from __future__ import annotations

import pytest

from domain import (
    BlockedBy,
    Direction,
    Position,
    RoverBlocked,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedLeft,
    RoverTurnedRight,
    Topology,
)
from domain.errors import (
    ErrorCategory,
    InvalidCommandCharacterError,
    InvalidCommandsError,
    RoverNotFoundError,
)
from tests.unit.domain.given import GRID, created, given, landed, rid

R1 = rid("r1")


def test_nasa_plateau_first_rover() -> None:
    # "5 5" names the upper-right corner, so the plateau is 6x6.
    grid = given(created(6, 6))
    grid.create_rover("r1", Position(1, 2), Direction.N)
    outcome = grid.execute(R1, "LMLMLMLMM")
    assert (outcome.rover.position, outcome.rover.facing) == (Position(1, 3), Direction.N)
    assert outcome.blocked is None
    assert len(outcome.events) == 9


def test_nasa_plateau_second_rover() -> None:
    grid = given(created(6, 6), landed("r1", 1, 3, "N"))
    grid.create_rover("r2", Position(3, 3), Direction.E)
    outcome = grid.execute(rid("r2"), "MMRMMRMRRM")
    assert (outcome.rover.position, outcome.rover.facing) == (Position(5, 1), Direction.E)
    assert outcome.version == 2 + 1 + 10


def test_move_forward_records_from_and_to() -> None:
    grid = given(created(), landed("r1", 1, 1, "E"))
    outcome = grid.move_forward(R1)
    assert outcome.events == (
        RoverMovedForward(
            grid_id=GRID,
            rover_id=R1,
            from_position=Position(1, 1),
            to_position=Position(2, 1),
            facing=Direction.E,
        ),
    )
    assert outcome.version == 3


def test_move_backward_goes_against_the_facing() -> None:
    grid = given(created(), landed("r1", 1, 1, "N"))
    outcome = grid.move_backward(R1)
    assert outcome.events == (
        RoverMovedBackward(
            grid_id=GRID,
            rover_id=R1,
            from_position=Position(1, 1),
            to_position=Position(1, 0),
            facing=Direction.N,
        ),
    )


def test_turns_record_both_facings_and_the_position() -> None:
    grid = given(created(), landed("r1", 3, 4, "N"))
    left = grid.turn_left(R1)
    right = grid.turn_right(R1)
    assert left.events == (
        RoverTurnedLeft(
            grid_id=GRID,
            rover_id=R1,
            position=Position(3, 4),
            from_facing=Direction.N,
            to_facing=Direction.W,
        ),
    )
    assert right.events == (
        RoverTurnedRight(
            grid_id=GRID,
            rover_id=R1,
            position=Position(3, 4),
            from_facing=Direction.W,
            to_facing=Direction.N,
        ),
    )
    assert grid.rover(R1).facing is Direction.N


@pytest.mark.parametrize(
    ("x", "y", "facing", "target"),
    [(4, 2, "E", (5, 2)), (0, 2, "W", (-1, 2)), (2, 4, "N", (2, 5)), (2, 0, "S", (2, -1))],
)
def test_a_bounded_edge_blocks_the_move(
    x: int, y: int, facing: str, target: tuple[int, int]
) -> None:
    grid = given(created(), landed("r1", x, y, facing))
    outcome = grid.move_forward(R1)
    assert outcome.events == (
        RoverBlocked(
            grid_id=GRID,
            rover_id=R1,
            position=Position(x, y),
            facing=Direction(facing),
            target=Position(*target),
            blocked_by=BlockedBy.EDGE,
            unexecuted_commands="F",
        ),
    )
    assert outcome.blocked == outcome.events[0]
    assert outcome.rover.position == Position(x, y)


@pytest.mark.parametrize(
    ("x", "y", "facing", "command", "arrival"),
    [
        (4, 2, "E", "F", (0, 2)),
        (0, 2, "W", "F", (4, 2)),
        (2, 4, "N", "F", (2, 0)),
        (2, 0, "S", "F", (2, 4)),
        (4, 2, "W", "B", (0, 2)),
        (2, 0, "N", "B", (2, 4)),
    ],
)
def test_a_toroidal_grid_wraps_at_every_edge(
    x: int, y: int, facing: str, command: str, arrival: tuple[int, int]
) -> None:
    grid = given(created(5, 5, Topology.TOROIDAL), landed("r1", x, y, facing))
    outcome = grid.execute(R1, command)
    assert outcome.blocked is None
    assert outcome.rover.position == Position(*arrival)
    assert outcome.events[0].from_position == Position(x, y)  # type: ignore[union-attr]


def test_a_one_cell_toroidal_grid_moves_onto_itself() -> None:
    grid = given(created(1, 1, Topology.TOROIDAL), landed("r1", 0, 0, "N"))
    outcome = grid.execute(R1, "FB")
    assert outcome.blocked is None
    assert outcome.rover.position == Position(0, 0)
    assert grid.state.occupancy == {Position(0, 0): R1}


def test_an_obstacle_stops_the_sequence_and_reports_what_was_left() -> None:
    grid = given(created(obstacles=((2, 3),)), landed("r1", 2, 0, "N"))
    outcome = grid.execute(R1, "ffFrB")
    assert [type(e) for e in outcome.events] == [
        RoverMovedForward,
        RoverMovedForward,
        RoverBlocked,
    ]
    assert outcome.blocked == RoverBlocked(
        grid_id=GRID,
        rover_id=R1,
        position=Position(2, 2),
        facing=Direction.N,
        target=Position(2, 3),
        blocked_by=BlockedBy.OBSTACLE,
        unexecuted_commands="FRB",
    )
    assert grid.rover(R1).position == Position(2, 2)


def test_an_obstacle_blocks_across_a_toroidal_edge() -> None:
    grid = given(created(5, 5, Topology.TOROIDAL, obstacles=((0, 4),)), landed("r1", 0, 0, "N"))
    outcome = grid.execute(R1, "BL")
    assert outcome.blocked is not None
    assert outcome.blocked.target == Position(0, 4)
    assert outcome.blocked.unexecuted_commands == "BL"


def test_another_rover_blocks_and_is_named() -> None:
    grid = given(created(), landed("r1", 0, 0, "E"), landed("r2", 2, 0, "S"))
    outcome = grid.execute(R1, "MMLM")
    assert outcome.blocked is not None
    assert outcome.blocked.blocked_by is BlockedBy.ROVER
    assert outcome.blocked.blocking_rover_id == "r2"
    assert outcome.blocked.target == Position(2, 0)
    assert outcome.blocked.unexecuted_commands == "FLF"
    assert grid.rover(R1).position == Position(1, 0)


def test_a_rover_can_move_into_a_cell_another_rover_left() -> None:
    grid = given(created(), landed("r1", 0, 0, "E"), landed("r2", 1, 0, "E"))
    grid.execute(rid("r2"), "F")
    outcome = grid.execute(R1, "F")
    assert outcome.blocked is None
    assert grid.state.occupancy == {Position(1, 0): "r1", Position(2, 0): "r2"}


def test_an_edge_block_mid_sequence_keeps_the_earlier_moves() -> None:
    grid = given(created(3, 3), landed("r1", 0, 0, "N"))
    outcome = grid.execute(R1, "FFFRF")
    assert outcome.rover.position == Position(0, 2)
    assert outcome.blocked is not None
    assert outcome.blocked.blocked_by is BlockedBy.EDGE
    assert outcome.blocked.unexecuted_commands == "FRF"
    assert grid.changes == outcome.events


def test_an_invalid_character_records_nothing() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    with pytest.raises(InvalidCommandCharacterError) as caught:
        grid.execute(R1, "FFRX")
    assert (caught.value.index, caught.value.character) == (3, "X")
    assert grid.changes == ()
    assert grid.rover(R1).position == Position(0, 0)


def test_a_too_long_sequence_records_nothing() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    with pytest.raises(InvalidCommandsError):
        grid.execute(R1, "L" * 1001)
    assert grid.changes == ()


def test_commands_to_an_unknown_rover() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    for command in (grid.move_forward, grid.move_backward, grid.turn_left, grid.turn_right):
        with pytest.raises(RoverNotFoundError) as caught:
            command(rid("ghost"))
        assert caught.value.category is ErrorCategory.NOT_FOUND
        assert caught.value.rover_id == "ghost"
    with pytest.raises(RoverNotFoundError):
        grid.execute(rid("ghost"), "F")
    with pytest.raises(RoverNotFoundError):
        grid.rover(rid("ghost"))
    with pytest.raises(RoverNotFoundError):
        grid.state.rover(rid("ghost"))
    assert grid.changes == ()


def test_bad_characters_win_over_an_unknown_rover() -> None:
    # Malformed input is reported first: the request is wrong whatever the grid holds.
    grid = given(created())
    with pytest.raises(InvalidCommandCharacterError):
        grid.execute(rid("ghost"), "F?")


def test_a_sequence_is_one_change_appended_after_the_earlier_ones() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    first = grid.execute(R1, "RF")
    second = grid.execute(R1, "LF")
    assert grid.changes == first.events + second.events
    assert (grid.version, second.version) == (2, 6)
    cleared = grid.clear_changes()
    assert cleared == first.events + second.events
    assert (grid.version, grid.current_version, grid.changes) == (6, 6, ())
