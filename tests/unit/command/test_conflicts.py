"""Conflicts between two instances on one grid: retries start from the cached grid's tail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.snapshot import GridSnapshot
from domain.values import Direction, Position
from services.command.application.commands import CreateGrid, CreateRover, TurnRoverLeft
from services.command.application.executor import RetryPolicy
from tests.unit.command.conftest import World, make_world


async def _two_instances() -> tuple[World, World]:
    first = make_world()
    await first.app.handlers.handle(CreateGrid(request_id="c", grid_id="g", width=4, height=4))
    await first.app.handlers.handle(
        CreateRover(
            request_id="r", grid_id="g", rover_id="r1", position=Position(0, 0), facing=Direction.N
        )
    )
    return first, first.restarted()  # a second instance over the same store


def _counting(monkeypatch: pytest.MonkeyPatch, target: Any, calls: list[Any]) -> None:
    original: Callable[..., Any] = target.load

    async def load(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("after_version", args[1] if len(args) > 1 else 0))
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, "load", load)


async def test_a_conflict_on_a_contended_grid_reads_only_the_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = await _two_instances()
    turn = 0

    async def command(world: World) -> int:
        nonlocal turn
        turn += 1
        result = await world.app.handlers.handle(
            TurnRoverLeft(request_id=f"t{turn}", grid_id="g", rover_id="r1")
        )
        return result.version

    assert await command(second) == 3
    assert await command(first) == 4  # conflicted once: the first instance saw the second
    assert await command(second) == 5  # and now the second saw the first
    event_loads: list[Any] = []
    snapshot_loads: list[Any] = []
    _counting(monkeypatch, first.store, event_loads)
    _counting(monkeypatch, first.snapshots, snapshot_loads)

    assert await command(first) == 6  # cached at 4, conflicted with 5, retried from 4's tail
    assert event_loads == [4]
    assert snapshot_loads == []
    stored = await first.store.load("g")
    assert [e.metadata.request_id for e in stored[2:]] == ["t1", "t2", "t3", "t4"]


async def test_an_uncontended_conflict_reloads_in_full_and_answers_right() -> None:
    first, second = await _two_instances()
    await second.app.handlers.handle(TurnRoverLeft(request_id="a", grid_id="g", rover_id="r1"))
    result = await first.app.handlers.handle(
        TurnRoverLeft(request_id="b", grid_id="g", rover_id="r1")
    )
    assert result.version == 4
    assert result.rover is not None
    assert result.rover.facing is Direction.S  # two left turns from north, none lost


def test_the_first_retry_is_immediate_and_later_ones_jittered_up_to_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=16, base_delay=0.002, max_delay=1.0)
    assert policy.delay(1, draw=lambda: 1.0) == 0.0
    assert policy.delay(2, draw=lambda: 1.0) == pytest.approx(0.004)
    assert policy.delay(3, draw=lambda: 0.5) == pytest.approx(0.004)
    assert policy.delay(15, draw=lambda: 1.0) == 1.0


async def test_a_tail_that_does_not_fit_the_base_falls_back_to_a_full_load() -> None:
    first, _ = await _two_instances()
    repository = first.app.repository
    loaded = await repository.load("g")
    assert loaded is not None
    # A base that claims to be older than it is: the tail's RoverCreated cannot be folded in.
    wrong = GridSnapshot(loaded.grid.snapshot().state, version=1)
    caught_up = await repository.catch_up("g", loaded, wrong)
    assert caught_up.grid.version == 2
    assert caught_up.grid.snapshot() == loaded.grid.snapshot()
