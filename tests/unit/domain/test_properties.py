"""Hypothesis properties: replay equals live state, snapshots agree, rovers never overlap."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import (
    Direction,
    Grid,
    GridSnapshot,
    Position,
    RoverBlocked,
    RoverId,
    Topology,
    evolve,
    replay,
)
from domain.errors import DomainError

# Moderate example counts: the whole unit tier shares a small CI box.
PROPERTY = settings(max_examples=60, deadline=None)


@dataclass(frozen=True)
class Scenario:
    width: int
    height: int
    topology: Topology
    obstacles: list[Position]
    rovers: list[tuple[str, Position, Direction]]
    programs: list[tuple[int, str]]  # (rover index, command text)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    width = draw(st.integers(1, 7))
    height = draw(st.integers(1, 7))
    cells = st.builds(Position, st.integers(0, width - 1), st.integers(0, height - 1))
    obstacles = draw(st.lists(cells, max_size=6, unique=True))
    rovers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c", "d", "e"]), cells, st.sampled_from(Direction)
            ),
            max_size=5,
        )
    )
    programs = draw(
        st.lists(
            st.tuples(st.integers(0, 4), st.text(alphabet="FBLRMfblrm", min_size=1, max_size=30)),
            max_size=12,
        )
    )
    topology = draw(st.sampled_from(Topology))
    return Scenario(width, height, topology, obstacles, rovers, programs)


def run(scenario: Scenario) -> Grid:
    """Play a scenario; requests the rules refuse are skipped, as a client would see them fail."""
    grid = Grid.create(
        "prop", scenario.width, scenario.height, scenario.topology, scenario.obstacles
    )
    for rover_id, position, facing in scenario.rovers:
        with contextlib.suppress(DomainError):
            grid.create_rover(rover_id, position, facing)
    landed = list(grid.state.rovers)
    for index, text in scenario.programs:
        if landed:
            grid.execute(landed[index % len(landed)], text)
    return grid


@PROPERTY
@given(scenarios())
def test_replaying_all_events_equals_the_live_state(scenario: Scenario) -> None:
    grid = run(scenario)
    history = grid.changes
    assert Grid.from_events(history).state == grid.state
    assert replay(history) == grid.state
    assert functools.reduce(evolve, history, None) == grid.state
    assert Grid.from_events(history).version == grid.current_version


@PROPERTY
@given(scenarios(), st.data())
def test_snapshot_plus_tail_equals_full_replay(scenario: Scenario, data: st.DataObject) -> None:
    history = run(scenario).changes
    cut = data.draw(st.integers(1, len(history)), label="cut")
    head = Grid.from_events(history[:cut])
    snapshot = GridSnapshot.from_data(head.snapshot().to_data())
    loaded = Grid.from_snapshot(snapshot, history[cut:])
    full = Grid.from_events(history)
    assert loaded.state == full.state
    assert loaded.version == full.version == len(history)


@PROPERTY
@given(scenarios())
def test_rovers_never_share_a_cell_sit_on_an_obstacle_or_leave_the_grid(
    scenario: Scenario,
) -> None:
    grid = Grid.create(
        "prop", scenario.width, scenario.height, scenario.topology, scenario.obstacles
    )
    state = evolve(None, grid.changes[0])
    for rover_id, position, facing in scenario.rovers:
        with contextlib.suppress(DomainError):
            grid.create_rover(rover_id, position, facing)
    for index, text in scenario.programs:
        rovers = list(grid.state.rovers)
        if rovers:
            grid.execute(rovers[index % len(rovers)], text)
    # Check the invariant after every single event, not only at the end.
    for event in grid.changes[1:]:
        state = evolve(state, event)
        cells = [r.position for r in state.rovers.values()]
        assert len(cells) == len(set(cells))
        assert not set(cells) & state.obstacles
        assert all(state.contains(cell) for cell in cells)
        assert state.occupancy == {r.position: r.rover_id for r in state.rovers.values()}


@PROPERTY
@given(scenarios())
def test_a_block_always_ends_its_sequence_and_leaves_the_rover_in_place(
    scenario: Scenario,
) -> None:
    grid = run(scenario)
    rovers = list(grid.state.rovers)
    if not rovers:
        return
    before = grid.rover(rovers[0])
    outcome = grid.execute(RoverId(rovers[0]), "F" * 50)
    if outcome.blocked is not None:
        assert outcome.events[-1] is outcome.blocked
        assert outcome.rover.position == outcome.blocked.position
        assert outcome.blocked.unexecuted_commands == "F" * (51 - len(outcome.events))
    else:
        assert scenario.topology is Topology.TOROIDAL
    assert sum(isinstance(e, RoverBlocked) for e in outcome.events) <= 1
    assert outcome.rover.facing is before.facing
