"""Command handlers over the in-memory store: the seed flow, results, errors, retries."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import (
    CellOccupiedByRoverError,
    GridAlreadyExistsError,
    GridNotFoundError,
    InvalidCommandCharacterError,
    InvalidIdError,
    RoverNotFoundError,
)
from domain.events import (
    GridCreated,
    RoverBlocked,
    RoverCreated,
    RoverMovedBackward,
    RoverMovedForward,
    RoverTurnedRight,
)
from domain.values import BlockedBy, Direction, Position
from services.command.application.commands import (
    AnyCommand,
    CreateGrid,
    CreateRover,
    ExecuteRoverCommands,
    MoveRoverBackward,
    MoveRoverForward,
    TurnRoverLeft,
    TurnRoverRight,
)
from services.command.application.errors import (
    CommandAbortedError,
    ConcurrencyError,
    InvalidRequestIdError,
    StoreUnavailableError,
)
from services.command.application.ports import PendingEvent
from tests.unit.command.conftest import World, make_world


async def seed(world: World, grid_id: str = "g1") -> None:
    h = world.app.handlers
    await h.handle(CreateGrid(grid_id=grid_id, width=5, height=5, obstacles=(Position(4, 4),)))
    await h.handle(
        CreateRover(grid_id=grid_id, rover_id="r1", position=Position(0, 0), facing=Direction.N)
    )


async def test_the_seed_flow_ends_with_rover_moved_backward_at_version_7(world: World) -> None:
    h = world.app.handlers
    await seed(world)
    await h.handle(MoveRoverForward(grid_id="g1", rover_id="r1"))
    await h.handle(MoveRoverForward(grid_id="g1", rover_id="r1"))
    await h.handle(TurnRoverRight(grid_id="g1", rover_id="r1"))
    await h.handle(MoveRoverForward(grid_id="g1", rover_id="r1"))

    result = await h.handle(MoveRoverBackward(grid_id="g1", rover_id="r1"))

    assert result.version == 7
    assert [type(e.event) for e in result.events] == [RoverMovedBackward]
    assert result.events[0].sequence == 7
    assert result.rover is not None
    assert result.rover.position == Position(0, 2)
    assert result.rover.facing is Direction.E
    kinds = [type(s.event) for s in world.store.all_events()]
    assert kinds == [
        GridCreated,
        RoverCreated,
        RoverMovedForward,
        RoverMovedForward,
        RoverTurnedRight,
        RoverMovedForward,
        RoverMovedBackward,
    ]


async def test_a_warm_grid_costs_one_store_call_per_command(world: World) -> None:
    await seed(world)
    before = world.store.appends
    for _ in range(3):
        await world.app.handlers.handle(TurnRoverLeft(grid_id="g1", rover_id="r1"))
    assert world.store.appends == before + 3


async def test_a_block_is_recorded_and_reported(world: World) -> None:
    await seed(world)
    result = await world.app.handlers.handle(
        ExecuteRoverCommands(grid_id="g1", rover_id="r1", commands="LFFR")
    )
    assert [type(e.event) for e in result.events] == [type(result.events[0].event), RoverBlocked]
    assert result.block is not None
    assert result.block.blocked_by is BlockedBy.EDGE
    assert result.block.unexecuted_commands == "FFR"
    assert result.version == 4


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (MoveRoverForward(grid_id="nope", rover_id="r1"), GridNotFoundError),
        (MoveRoverForward(grid_id="g1", rover_id="ghost"), RoverNotFoundError),
        (MoveRoverForward(grid_id="bad id", rover_id="r1"), InvalidIdError),
        (
            CreateRover(grid_id="g1", rover_id="r2", position=Position(0, 0), facing=Direction.S),
            CellOccupiedByRoverError,
        ),
        (CreateGrid(grid_id="g1", width=3, height=3), GridAlreadyExistsError),
        (
            ExecuteRoverCommands(grid_id="g1", rover_id="r1", commands="FX"),
            InvalidCommandCharacterError,
        ),
        (
            MoveRoverForward(grid_id="g1", rover_id="r1", request_id="x" * 200),
            InvalidRequestIdError,
        ),
    ],
)
async def test_errors_record_nothing(
    world: World, command: AnyCommand, error: type[Exception]
) -> None:
    await seed(world)
    with pytest.raises(error):
        await world.app.handlers.handle(command)
    assert len(world.store.all_events()) == 2


async def test_a_stale_cache_is_caught_by_the_expected_version(world: World) -> None:
    """Two service instances over one store: each decides on its own cached grid."""
    await seed(world)
    other = world.restarted()
    await other.app.handlers.handle(MoveRoverForward(grid_id="g1", rover_id="r1"))
    await world.app.handlers.handle(MoveRoverForward(grid_id="g1", rover_id="r1"))
    result = await other.app.handlers.handle(MoveRoverForward(grid_id="g1", rover_id="r1"))
    assert result.version == 5
    assert result.rover is not None
    assert result.rover.position == Position(0, 3)


async def test_a_stale_cache_does_not_answer_not_found(world: World) -> None:
    await seed(world)
    other = world.restarted()
    await other.app.handlers.handle(TurnRoverLeft(grid_id="g1", rover_id="r1"))
    await world.app.handlers.handle(
        CreateRover(grid_id="g1", rover_id="r2", position=Position(2, 2), facing=Direction.N)
    )
    result = await other.app.handlers.handle(TurnRoverLeft(grid_id="g1", rover_id="r2"))
    assert result.version == 5


async def test_endless_conflicts_end_in_aborted() -> None:
    world = make_world(command_max_attempts=3, command_retry_base_ms=0)
    await seed(world)

    async def always_conflict(grid_id: str, expected: int, events: list[PendingEvent]) -> int:
        raise ConcurrencyError(f"grid-{grid_id}", expected)

    world.store.append = always_conflict  # type: ignore[method-assign,assignment]
    with pytest.raises(CommandAbortedError) as caught:
        await world.app.handlers.handle(TurnRoverLeft(grid_id="g1", rover_id="r1"))
    assert caught.value.attempts == 3


async def test_an_outage_is_reported_and_the_cache_is_not_trusted_after(world: World) -> None:
    await seed(world)
    world.store.available = False
    with pytest.raises(StoreUnavailableError):
        await world.app.handlers.handle(TurnRoverLeft(grid_id="g1", rover_id="r1"))
    world.store.available = True
    result = await world.app.handlers.handle(TurnRoverLeft(grid_id="g1", rover_id="r1"))
    assert result.version == 3


async def test_fifty_concurrent_commands_on_one_grid_get_contiguous_versions(world: World) -> None:
    h = world.app.handlers
    await h.handle(CreateGrid(grid_id="g", width=100, height=100))
    results = await asyncio.gather(
        *(
            h.handle(
                CreateRover(
                    grid_id="g", rover_id=f"r{i}", position=Position(i, 0), facing=Direction.N
                )
            )
            for i in range(50)
        )
    )
    assert sorted(r.version for r in results) == list(range(2, 52))
    assert [s.version for s in world.store.all_events()] == list(range(1, 52))


async def test_generated_ids(world: World) -> None:
    h = world.app.handlers
    grid = await h.handle(CreateGrid(width=3, height=3))
    assert grid.grid_id == "generated-1"
    rover = await h.handle(
        CreateRover(grid_id=grid.grid_id, position=Position(1, 1), facing=Direction.W)
    )
    assert rover.rover is not None
    assert rover.rover.rover_id == "generated-2"
