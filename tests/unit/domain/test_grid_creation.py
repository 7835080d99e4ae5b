"""Creating grids and landing rovers: the events recorded, or the precise error."""

from __future__ import annotations

import pytest

from domain import MAX_ROVERS, Direction, Grid, GridCreated, GridEvent, Position, Topology
from domain.errors import (
    CellHasObstacleError,
    CellOccupiedByRoverError,
    DomainError,
    ErrorCategory,
    InvalidDirectionError,
    InvalidGridSizeError,
    InvalidIdError,
    InvalidObstacleError,
    InvalidPositionError,
    InvalidTopologyError,
    PositionOutsideGridError,
    RoverAlreadyExistsError,
    TooManyRoversError,
)
from tests.unit.domain.given import GRID, created, given, landed, rid


def test_create_records_grid_created_and_defaults_to_bounded() -> None:
    grid = Grid.create("g-1", 6, 4, obstacles=[Position(1, 1), Position(5, 3)])
    assert grid.changes == (
        GridCreated(
            grid_id=GRID,
            width=6,
            height=4,
            topology=Topology.BOUNDED,
            obstacles=frozenset({Position(1, 1), Position(5, 3)}),
        ),
    )
    assert grid.version == 0
    assert grid.current_version == 1
    assert grid.id == "g-1"
    assert grid.state.rovers == {}


def test_create_accepts_plain_pairs_and_the_largest_grid() -> None:
    grid = Grid.create("big", 10_000, 10_000, Topology.TOROIDAL, [(9_999, 0)])  # type: ignore[list-item]
    assert grid.state.obstacles == {Position(9_999, 0)}
    assert grid.state.topology is Topology.TOROIDAL


@pytest.mark.parametrize(
    ("width", "height", "field"),
    [
        (0, 5, "width"),
        (5, 0, "height"),
        (10_001, 5, "width"),
        (5, -1, "height"),
        (True, 5, "width"),
    ],
)
def test_create_rejects_sizes_outside_1_to_10000(width: int, height: int, field: str) -> None:
    with pytest.raises(InvalidGridSizeError) as caught:
        Grid.create("g", width, height)
    assert caught.value.field == field
    assert caught.value.reason == "GRID_SIZE_OUT_OF_RANGE"
    assert caught.value.category is ErrorCategory.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("obstacles", "field", "reason"),
    [
        ([Position(5, 0)], "obstacles[0]", "OBSTACLE_OUTSIDE_GRID"),
        ([Position(0, 0), Position(-1, 2)], "obstacles[1]", "OBSTACLE_OUTSIDE_GRID"),
        ([Position(1, 1), Position(2, 2), Position(1, 1)], "obstacles[2]", "OBSTACLE_DUPLICATE"),
    ],
)
def test_create_rejects_bad_obstacles(obstacles: list[Position], field: str, reason: str) -> None:
    with pytest.raises(InvalidObstacleError) as caught:
        Grid.create("g", 5, 5, obstacles=obstacles)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_create_rejects_an_obstacle_that_is_not_a_pair_of_integers() -> None:
    with pytest.raises(InvalidPositionError) as caught:
        Grid.create("g", 5, 5, obstacles=[(1.5, 2)])  # type: ignore[list-item]
    assert caught.value.field == "obstacles[0]"


def test_create_rejects_too_many_obstacles() -> None:
    cells = [Position(x, y) for x in range(200) for y in range(51)]
    with pytest.raises(InvalidObstacleError) as caught:
        Grid.create("g", 200, 200, obstacles=cells)
    assert caught.value.reason == "TOO_MANY_OBSTACLES"


def test_create_rejects_a_bad_id_and_a_bad_topology() -> None:
    with pytest.raises(InvalidIdError):
        Grid.create("no spaces", 5, 5)
    with pytest.raises(InvalidTopologyError):
        Grid.create("g", 5, 5, "ROUND")  # type: ignore[arg-type]


def test_create_rover_records_rover_created() -> None:
    grid = given(created())
    outcome = grid.create_rover("r1", Position(1, 2), Direction.N)
    assert outcome.events == (landed("r1", 1, 2, "N"),)
    assert grid.changes == outcome.events
    assert outcome.rover.position == Position(1, 2)
    assert outcome.blocked is None
    assert outcome.version == 2


@pytest.mark.parametrize(
    ("x", "y", "field"), [(5, 0, "position.x"), (-1, 0, "position.x"), (0, 5, "position.y")]
)
def test_create_rover_outside_the_grid(x: int, y: int, field: str) -> None:
    grid = given(created())
    with pytest.raises(PositionOutsideGridError) as caught:
        grid.create_rover("r1", Position(x, y), Direction.N)
    assert caught.value.field == field
    assert caught.value.reason == "POSITION_OUTSIDE_GRID"
    assert grid.changes == ()


def test_create_rover_on_an_obstacle_fails_the_precondition() -> None:
    grid = given(created(obstacles=((2, 2),)))
    with pytest.raises(CellHasObstacleError) as caught:
        grid.create_rover("r1", Position(2, 2), Direction.N)
    assert caught.value.category is ErrorCategory.FAILED_PRECONDITION
    assert caught.value.reason == "CELL_HAS_OBSTACLE"
    assert grid.changes == ()


def test_create_rover_on_another_rover_fails_the_precondition() -> None:
    grid = given(created(), landed("r1", 2, 2, "E"))
    with pytest.raises(CellOccupiedByRoverError) as caught:
        grid.create_rover("r2", Position(2, 2), Direction.N)
    assert caught.value.occupant == "r1"
    assert caught.value.category is ErrorCategory.FAILED_PRECONDITION
    assert caught.value.reason == "CELL_OCCUPIED_BY_ROVER"


def test_create_rover_with_a_taken_id() -> None:
    grid = given(created(), landed("r1", 2, 2, "E"))
    with pytest.raises(RoverAlreadyExistsError) as caught:
        grid.create_rover("r1", Position(0, 0), Direction.N)
    assert caught.value.category is ErrorCategory.ALREADY_EXISTS
    assert caught.value.field == "rover_id"


def test_create_rover_rejects_bad_input() -> None:
    grid = given(created())
    with pytest.raises(InvalidIdError):
        grid.create_rover("", Position(0, 0), Direction.N)
    with pytest.raises(InvalidDirectionError):
        grid.create_rover("r", Position(0, 0), "N")  # type: ignore[arg-type]
    with pytest.raises(InvalidPositionError):
        grid.create_rover("r", (0, "1"), Direction.N)  # type: ignore[arg-type]


def test_at_most_a_thousand_rovers() -> None:
    events: list[GridEvent] = [created(width=100, height=100)]
    events += [landed(f"r{i}", i % 100, i // 100, "N") for i in range(MAX_ROVERS)]
    grid = given(*events)
    with pytest.raises(TooManyRoversError) as caught:
        grid.create_rover("one-more", Position(99, 99), Direction.N)
    assert caught.value.category is ErrorCategory.RESOURCE_EXHAUSTED
    assert caught.value.reason == "ROVER_LIMIT_REACHED"
    assert caught.value.limit == 1_000


def test_every_domain_error_has_a_category_reason_and_message() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    with pytest.raises(DomainError) as caught:
        grid.create_rover("r1", Position(1, 1), Direction.N)
    error = caught.value
    assert isinstance(error.category, ErrorCategory)
    assert error.reason.isupper()
    assert "r1" in error.message == str(error)


def test_the_state_lists_rovers_in_creation_order() -> None:
    grid = given(created(), landed("b", 0, 0, "N"), landed("a", 1, 0, "S"))
    assert list(grid.state.rovers) == [rid("b"), rid("a")]
    assert grid.state.occupancy == {Position(0, 0): "b", Position(1, 0): "a"}
    assert grid.rover(rid("a")).facing is Direction.S
    assert isinstance(grid.changes, tuple)
