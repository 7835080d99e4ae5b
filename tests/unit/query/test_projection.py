"""The pure projection: every event becomes the right hash fields; views decode them back."""

from __future__ import annotations

from services.query.adapters.memory import InMemoryReadModel
from services.query.application.ports import Checkpoint, RoverView
from services.query.application.projection import (
    grid_view,
    obstacle_member,
    parse_obstacle,
    project,
)
from tests.unit.query.seed import seed_history


def test_grid_created_sets_shape_obstacles_and_version_1() -> None:
    update = project(seed_history()[0])
    assert update.new_grid
    assert not update.rover_id
    assert update.sequence == 1
    assert dict(update.grid_fields) | {"updated_at_ms": "x"} == {
        "grid_id": "plateau",
        "width": "6",
        "height": "6",
        "topology": "BOUNDED",
        "rover_count": "0",
        "version": "1",
        "updated_at_ms": "x",
    }
    assert update.obstacles == ("0,5", "4,4")


def test_rover_events_set_position_facing_and_the_grid_version() -> None:
    updates = [project(e) for e in seed_history()]
    assert updates[1].new_rover
    assert updates[1].rover_fields["rover_id"] == "r1"
    assert [u.grid_fields["version"] for u in updates] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [(u.rover_fields.get("x"), u.rover_fields.get("y")) for u in updates[1:]] == [
        ("1", "2"),
        ("1", "3"),
        ("1", "4"),
        ("1", "4"),
        ("2", "4"),
        ("1", "4"),
    ]
    assert [u.rover_fields.get("facing") for u in updates[1:]] == ["N", "N", "N", "E", "E", "E"]
    assert not any(u.new_rover for u in updates[2:])


def test_obstacle_members_round_trip() -> None:
    assert parse_obstacle(obstacle_member(12, -3)) == (12, -3)


def test_grid_view_orders_rovers_and_obstacles() -> None:
    view = grid_view(
        {"grid_id": "g", "width": "3", "height": "4", "topology": "TOROIDAL", "version": "9"},
        ["2,2", "0,1"],
        [("b", {"x": "1", "y": "1", "facing": "S"}), ("a", {"x": "0", "y": "0", "facing": "W"})],
    )
    assert view.obstacles == ((0, 1), (2, 2))
    assert [r.rover_id for r in view.rovers] == ["a", "b"]
    assert view.rovers[1] == RoverView("b", 1, 1, "S")


async def test_folding_the_seed_flow_gives_the_expected_grid() -> None:
    model = InMemoryReadModel()
    generation = await model.active_generation()
    await model.commit(
        generation, [project(e) for e in seed_history()], Checkpoint(7), must_be_active=True
    )
    view = await model.grid("plateau")
    assert view is not None
    assert view.version == 7
    assert view.rovers == (RoverView("r1", 1, 4, "E"),)
