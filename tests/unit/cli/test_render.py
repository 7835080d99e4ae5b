"""The CLI's pure rendering: the map, event lines, results, and the watch fold."""

from __future__ import annotations

from protos.rover.v1 import command_pb2, common_pb2, events_pb2, live_pb2
from services.cli.render import describe_event, describe_result, render_grid
from services.cli.watch import apply_update, follow

P = common_pb2.Position
N, E, S, W = (
    common_pb2.DIRECTION_NORTH,
    common_pb2.DIRECTION_EAST,
    common_pb2.DIRECTION_SOUTH,
    common_pb2.DIRECTION_WEST,
)


def _grid(**overrides: object) -> common_pb2.GridDetails:
    fields: dict[str, object] = {
        "grid_id": "mars",
        "width": 5,
        "height": 4,
        "topology": common_pb2.TOPOLOGY_BOUNDED,
        "obstacles": [P(x=2, y=2)],
        "rovers": [
            common_pb2.Rover(rover_id="spirit", position=P(x=2, y=1), facing=N),
            common_pb2.Rover(rover_id="oppy", position=P(x=0, y=0), facing=E),
            common_pb2.Rover(rover_id="sojourner", position=P(x=4, y=3), facing=W),
            common_pb2.Rover(rover_id="curiosity", position=P(x=4, y=0), facing=S),
        ],
        "version": 9,
    }
    fields.update(overrides)
    return common_pb2.GridDetails(**fields)  # type: ignore[arg-type]


def test_map_is_north_up_with_arrows_obstacles_and_a_frame() -> None:
    assert render_grid(_grid()) == "\n".join(
        [
            "mars  5x4 bounded  version 9",
            "  +-----------+",
            "3 | . . . . < |",
            "2 | . . # . . |",
            "1 | . . ^ . . |",
            "0 | > . . . v |",
            "  +-----------+",
            "    0 1 2 3 4",
            "  v curiosity at (4,0) facing S",
            "  > oppy at (0,0) facing E",
            "  < sojourner at (4,3) facing W",
            "  ^ spirit at (2,1) facing N",
        ]
    )


def test_a_toroidal_grid_has_a_wrapping_frame_and_an_empty_one_says_so() -> None:
    text = render_grid(_grid(topology=common_pb2.TOPOLOGY_TOROIDAL, rovers=[], width=2))
    assert text.splitlines()[:3] == [
        "mars  2x4 toroidal (edges wrap)  version 9",
        "  +~~~~~+",
        "3 : . . :",
    ]
    assert text.endswith("(no rovers yet)")


def test_a_large_grid_is_clipped_with_a_note() -> None:
    text = render_grid(_grid(width=1000, height=500), max_width=10, max_height=12)
    lines = text.splitlines()
    assert lines[1] == "(showing x 0..9, y 0..11)"
    assert lines[3].startswith("11 | . . . .")
    assert "0 1 2 3 4 5 6 7 8 9" in text


def _event(sequence: int, **payload: object) -> events_pb2.IntegrationEvent:
    return events_pb2.IntegrationEvent(grid_id="mars", sequence=sequence, **payload)  # type: ignore[arg-type]


def test_every_event_reads_as_a_sentence() -> None:
    lines = [
        describe_event(
            _event(
                1,
                grid_created=events_pb2.GridCreated(
                    width=5, height=5, obstacles=[P(x=2, y=2)], topology=common_pb2.TOPOLOGY_BOUNDED
                ),
            )
        ),
        describe_event(
            _event(2, rover_created=events_pb2.RoverCreated(rover_id="a", position=P(), facing=N))
        ),
        describe_event(
            _event(
                3,
                rover_moved_forward=events_pb2.RoverMovedForward(
                    rover_id="a", from_position=P(), to_position=P(y=1), facing=N
                ),
            )
        ),
        describe_event(
            _event(
                4,
                rover_moved_backward=events_pb2.RoverMovedBackward(
                    rover_id="a", from_position=P(y=1), to_position=P(), facing=N
                ),
            )
        ),
        describe_event(
            _event(
                5,
                rover_turned_left=events_pb2.RoverTurnedLeft(
                    rover_id="a", position=P(), from_facing=N, to_facing=W
                ),
            )
        ),
        describe_event(
            _event(
                6,
                rover_turned_right=events_pb2.RoverTurnedRight(
                    rover_id="a", position=P(), from_facing=W, to_facing=N
                ),
            )
        ),
        describe_event(
            _event(
                7,
                rover_blocked=events_pb2.RoverBlocked(
                    rover_id="a",
                    position=P(x=1),
                    target=P(x=2),
                    blocked_by=common_pb2.BLOCKED_BY_ROVER,
                    blocking_rover_id="b",
                    remaining_commands="FFL",
                ),
            )
        ),
        describe_event(events_pb2.IntegrationEvent(sequence=8)),
    ]
    assert lines == [
        "#1 grid mars created: 5x5 bounded, obstacles (2,2)",
        "#2 a landed at (0,0) facing N",
        "#3 a moved forward (0,0) -> (0,1) facing N",
        "#4 a moved backward (0,1) -> (0,0) facing N",
        "#5 a turned left at (0,0): N -> W",
        "#6 a turned right at (0,0): W -> N",
        "#7 a at (1,0) blocked by rover b at (2,0), not run: FFL",
        "#8 (unknown event)",
    ]


def test_a_blocked_result_says_where_and_what_was_not_run() -> None:
    result = command_pb2.CommandResult(
        grid_id="mars",
        version=7,
        rover=common_pb2.Rover(rover_id="a", position=P(x=1, y=3), facing=E),
        block=common_pb2.Block(
            position=P(x=1, y=3),
            target=P(x=2, y=3),
            blocked_by=common_pb2.BLOCKED_BY_OBSTACLE,
            remaining_commands="FR",
        ),
    )
    assert describe_result(result).splitlines() == [
        "a is at (1,3) facing E (grid mars, version 7)",
        "BLOCKED by an obstacle at (2,3); not run: FR",
    ]
    created = command_pb2.CommandResult(grid_id="g", version=1)
    assert describe_result(created) == "grid g is at version 1"


def test_watch_fold_snapshot_then_events() -> None:
    snapshot = live_pb2.GridUpdate(sequence=9, snapshot=_grid())
    moved = common_pb2.Rover(rover_id="spirit", position=P(x=2, y=0), facing=N)
    landed = common_pb2.Rover(rover_id="new", position=P(x=1, y=1), facing=S)
    updates = [
        live_pb2.GridUpdate(sequence=9, heartbeat=live_pb2.Heartbeat()),
        snapshot,
        live_pb2.GridUpdate(sequence=10, event=live_pb2.GridChange(event=_event(10), rover=moved)),
        live_pb2.GridUpdate(sequence=11, event=live_pb2.GridChange(event=_event(11), rover=landed)),
    ]
    drawn: list[int] = []
    state, resume = follow(updates, lambda grid, update: drawn.append(grid.version))
    assert resume is None
    assert drawn == [9, 10, 11]
    assert state is not None
    rovers = {r.rover_id: (r.position.x, r.position.y, r.facing) for r in state.rovers}
    assert rovers["spirit"] == (2, 0, N)
    assert rovers["new"] == (1, 1, S)
    assert len(rovers) == 5
    assert _grid().version == 9  # the snapshot was copied, not mutated


def test_watch_from_history_starts_at_grid_created_and_stops_on_resume() -> None:
    created = _event(1, grid_created=events_pb2.GridCreated(width=3, height=3))
    updates = [
        live_pb2.GridUpdate(sequence=1, event=live_pb2.GridChange(event=created)),
        live_pb2.GridUpdate(sequence=1, resume=live_pb2.Resume(from_version=1, reason="slow")),
        live_pb2.GridUpdate(sequence=2, heartbeat=live_pb2.Heartbeat()),
    ]
    state, resume = follow(updates, lambda grid, update: None)
    assert resume == 1
    assert state is not None
    assert (state.width, state.height, state.version) == (3, 3, 1)
    orphan = live_pb2.GridUpdate(sequence=5, event=live_pb2.GridChange(event=_event(5)))
    assert apply_update(None, orphan) is None
