"""Loading a grid: full replay, snapshot plus tail, versions and broken histories."""

from __future__ import annotations

import functools
import json

import pytest

from domain import (
    SNAPSHOT_SCHEMA,
    Direction,
    Grid,
    GridEvent,
    GridSnapshot,
    GridState,
    Position,
    RoverMovedBackward,
    evolve,
    replay,
)
from domain.errors import (
    ErrorCategory,
    EventHistoryInvalidError,
    SnapshotCorruptError,
    SnapshotSchemaUnsupportedError,
    SnapshotUnusableError,
)
from tests.unit.domain.given import GRID, created, given, landed, rid

R1 = rid("r1")


def _seed_history() -> list[GridEvent]:
    # The architecture's worked example: six events, then MoveRoverBackward.
    grid = Grid.create(GRID, 10, 10)
    grid.create_rover(R1, Position(0, 0), Direction.N)
    grid.move_forward(R1)
    grid.move_forward(R1)
    grid.turn_right(R1)
    grid.move_forward(R1)
    return list(grid.changes)


def test_the_seed_flow_versions() -> None:
    history = _seed_history()
    grid = Grid.from_events(history)
    assert grid.version == 6
    assert grid.changes == ()
    outcome = grid.move_backward(R1)
    assert outcome.version == 7
    assert outcome.events == (
        RoverMovedBackward(
            grid_id=GRID,
            rover_id=R1,
            from_position=Position(1, 2),
            to_position=Position(0, 2),
            facing=Direction.E,
        ),
    )


def test_replay_equals_a_reduce_of_evolve() -> None:
    history = _seed_history()
    by_evolve = functools.reduce(evolve, history, None)
    assert replay(history) == by_evolve
    assert Grid.from_events(history).state == by_evolve


def test_evolve_is_pure() -> None:
    before = evolve(None, created())
    after = evolve(before, landed("r1", 1, 1, "N"))
    assert before.rovers == {}
    assert after.rover(R1).position == Position(1, 1)
    with pytest.raises(TypeError):
        after.rovers[R1] = after.rover(R1)  # type: ignore[index]


@pytest.mark.parametrize(
    "history",
    [
        [],
        [landed("r1", 0, 0, "N")],
        [created(), created()],
        [created(), landed("r1", 0, 0, "N"), landed("r1", 1, 1, "N")],
        [created(), landed("r1", 0, 0, "N"), landed("r2", 0, 0, "N")],
    ],
    ids=["empty", "no-grid", "created-twice", "same-rover", "same-cell"],
)
def test_impossible_histories_are_rejected(history: list[GridEvent]) -> None:
    with pytest.raises(EventHistoryInvalidError) as caught:
        Grid.from_events(history)
    assert caught.value.category is ErrorCategory.INTERNAL


def test_events_for_a_rover_that_was_never_created_are_rejected() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    grid.execute(R1, "FRLB")
    grid.execute(R1, "BBB")  # ends in RoverBlocked at the edge
    for event in grid.changes:
        with pytest.raises(EventHistoryInvalidError):
            Grid.from_events([created(), event])
        with pytest.raises(EventHistoryInvalidError):
            functools.reduce(evolve, [created(), event], None)


def test_snapshot_round_trips_through_plain_json() -> None:
    grid = given(
        created(obstacles=((1, 1), (3, 2))), landed("r1", 0, 0, "N"), landed("r2", 4, 4, "S")
    )
    grid.execute(R1, "FFRF")
    snapshot = grid.snapshot()
    data = json.loads(json.dumps(snapshot.to_data()))
    assert data["schema"] == SNAPSHOT_SCHEMA
    assert data["version"] == grid.current_version == 7
    restored = GridSnapshot.from_data(data)
    assert restored == snapshot
    assert list(restored.state.rovers) == [R1, rid("r2")]


def test_snapshot_plus_tail_equals_full_replay() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    grid.execute(R1, "FFR")
    snapshot = grid.snapshot()
    grid.clear_changes()
    grid.execute(R1, "FFLB")
    tail = grid.changes
    loaded = Grid.from_snapshot(snapshot, tail)
    assert loaded.version == grid.current_version
    assert loaded.state == grid.state
    assert Grid.from_snapshot(snapshot).version == snapshot.version


def test_a_loaded_snapshot_keeps_enforcing_the_rules() -> None:
    grid = given(created(3, 1), landed("r1", 0, 0, "E"), landed("r2", 2, 0, "W"))
    loaded = Grid.from_snapshot(GridSnapshot.from_data(grid.snapshot().to_data()))
    outcome = loaded.execute(R1, "FF")
    assert outcome.blocked is not None
    assert outcome.blocked.blocking_rover_id == "r2"


@pytest.mark.parametrize("schema", [0, 2, "1", None, True])
def test_an_unknown_snapshot_schema_is_refused(schema: object) -> None:
    data = given(created()).snapshot().to_data()
    data["schema"] = schema
    with pytest.raises(SnapshotSchemaUnsupportedError) as caught:
        GridSnapshot.from_data(data)
    assert isinstance(caught.value, SnapshotUnusableError)
    assert caught.value.found == schema


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("rovers"),
        lambda d: d.update(width="5"),
        lambda d: d.update(topology="ROUND"),
        lambda d: d.update(rovers=[["r1", 0, 0, "N"], ["r1", 1, 1, "N"]]),
        lambda d: d.update(rovers=[["r1", 0, 0, "N"], ["r2", 0, 0, "N"]]),
        lambda d: d.update(rovers=[["bad id", 0, 0, "N"]]),
        lambda d: d.update(version=0),
    ],
)
def test_a_malformed_snapshot_is_corrupt(damage: object) -> None:
    data = given(created()).snapshot().to_data()
    damage(data)  # type: ignore[operator]
    with pytest.raises(SnapshotCorruptError):
        GridSnapshot.from_data(data)


def test_a_snapshot_must_be_an_object() -> None:
    with pytest.raises(SnapshotCorruptError):
        GridSnapshot.from_data([1])


def test_state_is_cached_until_the_next_change() -> None:
    grid = given(created(), landed("r1", 0, 0, "N"))
    first = grid.state
    assert grid.state is first
    grid.turn_left(R1)
    assert grid.state is not first
    assert isinstance(grid.state, GridState)
    assert first.rover(R1).facing is Direction.N
