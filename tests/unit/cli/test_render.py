"""The CLI's pure rendering: the map and its legend, fitting a terminal, events, results, lists."""

from __future__ import annotations

from protos.rover.v1 import command_pb2, common_pb2, events_pb2, query_pb2
from services.cli.render import (
    describe_event,
    describe_result,
    render_grid,
    render_grid_list,
    rover_labels,
)

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


def test_map_is_north_up_with_labelled_rovers_obstacles_a_frame_and_a_legend() -> None:
    assert render_grid(_grid()) == "\n".join(
        [
            "mars  5x4 bounded  version 9",
            "  +-----------+",
            "3 | . . . . S |",
            "2 | . . # . . |",
            "1 | . . P . . |",
            "0 | O . . . C |",
            "  +-----------+",
            "    0 1 2 3 4",
            "  C curiosity at (4,0) facing S v",
            "  O oppy at (0,0) facing E >",
            "  S sojourner at (4,3) facing W <",
            "  P spirit at (2,1) facing N ^",
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
    assert lines[1] == "(showing x 0..9, y 0..11 of 1000x500)"
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
        "#8 (an event this version of rover does not know)",
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


def test_rovers_facing_the_same_way_are_told_apart() -> None:
    rovers = [
        common_pb2.Rover(rover_id=name, position=P(x=i, y=0), facing=N)
        for i, name in enumerate(["spirit", "sojourner", "s", "opportunity"])
    ]
    text = render_grid(_grid(rovers=rovers, obstacles=[]))
    assert "0 | P J S O . |" in text.splitlines()
    assert "  S s at (2,0) facing N ^" in text.splitlines()
    assert "  J sojourner at (1,0) facing N ^" in text.splitlines()
    assert "  P spirit at (0,0) facing N ^" in text.splitlines()


def test_labels_stay_when_another_rover_lands() -> None:
    labels = rover_labels(["spirit"])
    assert labels == {"spirit": "S"}
    assert rover_labels(["spirit", "sojourner"], labels) == {"spirit": "S", "sojourner": "O"}
    many = rover_labels(f"r{i}" for i in range(70))
    assert len(set(many.values()) - {"?"}) == 62  # letters and digits, then "?"
    assert list(many.values()).count("?") == 8


def test_a_map_fits_the_terminal_and_says_what_is_cut() -> None:
    rovers = [
        common_pb2.Rover(rover_id=f"rover-{i:02}", position=P(x=i, y=i), facing=E)
        for i in range(30)
    ]
    text = render_grid(_grid(width=60, height=50, rovers=rovers), fit=(40, 20))
    lines = text.splitlines()
    assert len(lines) <= 20
    assert max(map(len, lines)) <= 40
    assert lines[1] == "(showing x 0..16, y 0..9 of 60x50)"
    shown = len([line for line in lines if " at (" in line])
    assert lines[-1] == f"  ... and {30 - shown} more rovers"
    small = render_grid(_grid(), fit=(80, 24))
    assert small == render_grid(_grid())  # what fits is drawn whole
    long_id = render_grid(_grid(grid_id="x" * 100, rovers=[]), fit=(30, 24)).splitlines()
    assert long_id[0] == "x" * 27 + "..."


def test_the_grid_list_is_as_wide_as_its_data() -> None:
    long_id = "0123456789abcdef0123456789abcdef"
    grids = [
        query_pb2.GridSummary(grid_id="mars", width=5, height=5, rover_count=2, version=13),
        query_pb2.GridSummary(
            grid_id=long_id, width=10000, height=10000, version=123456789,
            topology=common_pb2.TOPOLOGY_TOROIDAL,
        ),
    ]  # fmt: skip
    assert render_grid_list(grids).splitlines() == [
        "GRID                                    SIZE TOPOLOGY ROVERS   VERSION",
        "mars                                     5x5 bounded       2        13",
        f"{long_id} 10000x10000 toroidal      0 123456789",
    ]
    assert render_grid_list([]) == "no grids yet: create one with `rover grid create`"


def test_every_payload_of_the_contract_has_a_phrase_of_its_own() -> None:
    oneof = events_pb2.IntegrationEvent.DESCRIPTOR.oneofs_by_name["payload"]
    assert oneof.fields
    for field in oneof.fields:
        event = events_pb2.IntegrationEvent(sequence=1)
        getattr(event, field.name).SetInParent()
        assert "does not know" not in describe_event(event), field.name
