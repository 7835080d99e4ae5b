"""Value objects: ids, directions, topology and command parsing."""

from __future__ import annotations

import pytest

from domain import Command, Direction, GridId, Position, RoverId, Topology, parse_commands
from domain.errors import (
    ErrorCategory,
    InvalidCommandCharacterError,
    InvalidCommandsError,
    InvalidDirectionError,
    InvalidIdError,
    InvalidTopologyError,
)


@pytest.mark.parametrize("value", ["a", "Rover-1", "x_y", "A" * 64, "0"])
def test_valid_ids_are_plain_strings(value: str) -> None:
    rover = RoverId(value)
    assert rover == value
    assert isinstance(rover, str)
    assert RoverId(rover) is rover


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "ID_EMPTY"),
        ("A" * 65, "ID_TOO_LONG"),
        ("rover 1", "ID_CHARACTER_INVALID"),
        ("röver", "ID_CHARACTER_INVALID"),
        ("a/b", "ID_CHARACTER_INVALID"),
        ("a\n", "ID_CHARACTER_INVALID"),
    ],
)
def test_invalid_rover_ids_are_rejected_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdError) as caught:
        RoverId(value)
    assert caught.value.reason == reason
    assert caught.value.field == "rover_id"
    assert caught.value.category is ErrorCategory.INVALID_ARGUMENT


def test_invalid_grid_id_names_its_field_and_the_bad_character() -> None:
    with pytest.raises(InvalidIdError, match="index 4") as caught:
        GridId("grid!")
    assert caught.value.field == "grid_id"
    assert caught.value.value == "grid!"


def test_an_id_must_be_a_string() -> None:
    with pytest.raises(InvalidIdError) as caught:
        GridId(7)  # type: ignore[arg-type]
    assert caught.value.reason == "ID_NOT_A_STRING"


def test_directions_turn_in_a_circle() -> None:
    assert [d.right() for d in Direction] == [Direction.E, Direction.S, Direction.W, Direction.N]
    assert [d.left() for d in Direction] == [Direction.W, Direction.N, Direction.E, Direction.S]
    for d in Direction:
        assert d.left().right() is d


def test_north_is_y_plus_one_and_east_is_x_plus_one() -> None:
    assert Direction.N.delta == (0, 1)
    assert Direction.E.delta == (1, 0)
    assert Direction.S.delta == (0, -1)
    assert Direction.W.delta == (-1, 0)


@pytest.mark.parametrize(("text", "expected"), [("n", Direction.N), (" East ", Direction.E)])
def test_direction_parse(text: str, expected: Direction) -> None:
    assert Direction.parse(text) is expected


def test_direction_parse_rejects_anything_else() -> None:
    with pytest.raises(InvalidDirectionError) as caught:
        Direction.parse("up")
    assert caught.value.field == "facing"
    assert caught.value.reason == "DIRECTION_INVALID"


def test_topology_parse() -> None:
    assert Topology.parse("toroidal") is Topology.TOROIDAL
    with pytest.raises(InvalidTopologyError) as caught:
        Topology.parse("sphere")
    assert caught.value.field == "topology"


def test_position_is_a_hashable_pair() -> None:
    assert Position(1, 2) == Position(1, 2)
    assert {Position(1, 2): "a"}[Position(1, 2)] == "a"
    assert str(Position(1, -2)) == "(1, -2)"


def test_commands_are_case_insensitive_and_m_means_forward() -> None:
    assert parse_commands("fFbBlLrRmM") == (
        Command.F,
        Command.F,
        Command.B,
        Command.B,
        Command.L,
        Command.L,
        Command.R,
        Command.R,
        Command.F,
        Command.F,
    )


def test_a_thousand_commands_are_allowed() -> None:
    assert len(parse_commands("F" * 1000)) == 1000


@pytest.mark.parametrize(
    ("text", "reason"), [("", "COMMANDS_EMPTY"), ("F" * 1001, "COMMANDS_TOO_LONG")]
)
def test_empty_or_too_long_sequences_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(InvalidCommandsError) as caught:
        parse_commands(text)
    assert caught.value.reason == reason
    assert caught.value.field == "commands"


@pytest.mark.parametrize(
    ("text", "index", "character"),
    [("X", 0, "X"), ("FFLX", 3, "X"), ("ff r", 2, " "), ("FFé", 2, "é"), ("LMLM\n", 4, "\n")],
)
def test_an_invalid_character_is_reported_with_its_index(
    text: str, index: int, character: str
) -> None:
    with pytest.raises(InvalidCommandCharacterError) as caught:
        parse_commands(text)
    error = caught.value
    assert (error.index, error.character) == (index, character)
    assert error.reason == "COMMAND_CHARACTER_INVALID"
    assert error.field == "commands"
    assert f"index {index}" in str(error)
    assert error.category is ErrorCategory.INVALID_ARGUMENT


def test_commands_must_be_text() -> None:
    with pytest.raises(InvalidCommandsError):
        parse_commands(None)  # type: ignore[arg-type]
