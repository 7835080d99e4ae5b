"""request_id deduplication (also across restarts and snapshots) and snapshot fallback."""

from __future__ import annotations

import pytest

from domain.errors import GridAlreadyExistsError
from domain.values import Direction, Position
from services.command.application.commands import (
    CreateGrid,
    CreateRover,
    ExecuteRoverCommands,
    MoveRoverForward,
    TurnRoverLeft,
)
from services.command.application.errors import RequestIdReusedError
from services.command.application.ports import StoredSnapshot
from tests.unit.command.conftest import World, make_world


async def setup_grid(world: World) -> None:
    h = world.app.handlers
    await h.handle(CreateGrid(request_id="c1", grid_id="g1", width=10, height=10))
    await h.handle(
        CreateRover(
            request_id="c2",
            grid_id="g1",
            rover_id="r1",
            position=Position(0, 0),
            facing=Direction.N,
        )
    )


async def test_the_same_request_twice_applies_once_and_returns_the_original(world: World) -> None:
    await setup_grid(world)
    command = MoveRoverForward(request_id="m1", grid_id="g1", rover_id="r1")
    first = await world.app.handlers.handle(command)
    second = await world.app.handlers.handle(command)
    assert second == first
    assert second.replayed
    assert len(world.store.all_events()) == 3


async def test_a_retry_after_a_restart_returns_the_original(world: World) -> None:
    await setup_grid(world)
    command = ExecuteRoverCommands(request_id="e1", grid_id="g1", rover_id="r1", commands="FFRFF")
    first = await world.app.handlers.handle(command)
    restarted = world.restarted()
    again = await restarted.app.handlers.handle(command)
    assert again == first
    assert len(world.store.all_events()) == 7


async def test_create_grid_retried_returns_the_original_even_with_a_generated_id(
    world: World,
) -> None:
    command = CreateGrid(request_id="new-grid", width=4, height=4)
    first = await world.app.handlers.handle(command)
    again = await world.restarted().app.handlers.handle(command)
    assert again == first
    with pytest.raises(GridAlreadyExistsError):
        await world.app.handlers.handle(CreateGrid(grid_id=first.grid_id, width=4, height=4))


async def test_a_request_id_reused_for_another_command_is_refused(world: World) -> None:
    await setup_grid(world)
    await world.app.handlers.handle(MoveRoverForward(request_id="x", grid_id="g1", rover_id="r1"))
    with pytest.raises(RequestIdReusedError):
        await world.app.handlers.handle(TurnRoverLeft(request_id="x", grid_id="g1", rover_id="r1"))


async def test_requests_survive_in_snapshots_and_loading_reads_only_the_tail() -> None:
    world = make_world(snapshot_interval=10)
    await setup_grid(world)
    early = await world.app.handlers.handle(
        TurnRoverLeft(request_id="early", grid_id="g1", rover_id="r1")
    )
    for i in range(30):
        await world.app.handlers.handle(
            TurnRoverLeft(request_id=f"t{i}", grid_id="g1", rover_id="r1")
        )
    await world.app.repository.drain()
    assert world.snapshots.saves == 3
    restarted = world.restarted()
    loads: list[int] = []
    original = world.store.load

    async def counting_load(grid_id: str, after_version: int = 0, limit: int | None = None):  # type: ignore[no-untyped-def]
        loads.append(after_version)
        return await original(grid_id, after_version, limit)

    world.store.load = counting_load  # type: ignore[method-assign]
    again = await restarted.app.handlers.handle(
        TurnRoverLeft(request_id="early", grid_id="g1", rover_id="r1")
    )
    assert again == early
    assert loads[0] == 30  # the tail after the snapshot at version 30, not the whole history


async def test_an_unusable_snapshot_falls_back_to_full_replay() -> None:
    world = make_world(snapshot_interval=2)
    await setup_grid(world)
    await world.app.repository.drain()
    stored = await world.snapshots.load("g1")
    assert stored is not None
    world.snapshots.plant("g1", b'{"schema": 999}', StoredSnapshot(stored.snapshot))
    result = await world.restarted().app.handlers.handle(
        MoveRoverForward(grid_id="g1", rover_id="r1")
    )
    assert result.version == 3
    assert result.rover is not None
    assert result.rover.position == Position(0, 1)
