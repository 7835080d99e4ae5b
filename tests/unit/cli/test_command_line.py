"""The ``rover`` command line: global options anywhere, negative positions, help, settings."""

from __future__ import annotations

import argparse

import pytest

from protos.rover.v1 import common_pb2
from services.cli.__main__ import main
from services.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE
from services.cli.parser import build_parser, join_negative_values, parse_facing, parse_position
from services.cli.settings import CliSettings, dial

COMMANDS = [
    ["grid"], ["grid", "create"], ["land"], ["drive"], ["show"], ["grids"], ["watch"]
]  # fmt: skip


def _parse(*words: str) -> argparse.Namespace:
    return build_parser(CliSettings()).parse_args(join_negative_values(words))


def test_positions_and_facings_parse_or_explain() -> None:
    assert parse_position("1,2") == common_pb2.Position(x=1, y=2)
    assert parse_facing("n") == common_pb2.DIRECTION_NORTH
    assert parse_facing("West") == common_pb2.DIRECTION_WEST
    for bad in ("1", "a,b", "1;2"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not X,Y"):
            parse_position(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="N, E, S, W"):
        parse_facing("Q")


def test_the_command_line_reads_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROVER_QUERY_ADDRESS", "0.0.0.0:7000")
    args = _parse(
        "grid", "create", "--width", "5", "--height", "4", "--obstacle", "1,2",
        "--obstacle", "3,3", "--toroidal", "--id", "mars",
    )  # fmt: skip
    assert (args.width, args.height, args.toroidal, args.id) == (5, 4, True, "mars")
    assert [(p.x, p.y) for p in args.obstacle] == [(1, 2), (3, 3)]
    assert args.query_address == "0.0.0.0:7000"
    assert dial(args.query_address) == "127.0.0.1:7000"
    assert (args.command_address, args.timeout) == ("127.0.0.1:50051", 10.0)
    args = _parse("drive", "mars", "spirit", "FFRFF")
    assert (args.grid, args.rover, args.commands) == ("mars", "spirit", "FFRFF")


@pytest.mark.parametrize(
    "words",
    [
        ["--query-address", "q:1", "--timeout", "3", "grids"],
        ["grids", "--query-address", "q:1", "--timeout", "3"],
        ["--timeout", "3", "grids", "--query-address", "q:1"],
    ],
)
def test_global_options_go_before_or_after_the_command(words: list[str]) -> None:
    args = _parse(*words)
    assert (args.command, args.query_address, args.timeout) == ("grids", "q:1", 3.0)
    assert args.command_address == "127.0.0.1:50051"


def test_global_options_after_a_nested_command_and_its_arguments() -> None:
    args = _parse("grid", "create", "--width", "2", "--height", "2", "--command-address", "c:9")
    assert (args.command_address, args.width) == ("c:9", 2)
    args = _parse("watch", "mars", "--live-address", "l:3", "--from-version", "4")
    assert (args.live_address, args.from_version, args.retry_for) == ("l:3", 4, 30.0)


def test_negative_coordinates_reach_the_service() -> None:
    args = _parse("land", "mars", "--at", "-1,0", "--facing", "N")
    assert args.at == common_pb2.Position(x=-1, y=0)
    args = _parse("grid", "create", "--width", "3", "--height", "3", "--obstacle", "-2,-3")
    assert [(p.x, p.y) for p in args.obstacle] == [(-2, -3)]
    args = _parse("land", "mars", "--at=-4,5", "--facing", "S")
    assert args.at == common_pb2.Position(x=-4, y=5)


def test_an_unreachable_service_exits_3_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["show", "mars", "--query-address", "127.0.0.1:1", "--timeout", "2"])
    assert status == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.startswith("rover: UNAVAILABLE: ")
    assert err.count("\n") == 1
    assert "127.0.0.1:1" in err
    assert "--query-address or ROVER_QUERY_ADDRESS" in err


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["land", "mars", "--at", "1", "--facing", "N"])
    assert caught.value.code == EXIT_USAGE
    assert "'1' is not X,Y" in capsys.readouterr().err


def test_a_bad_setting_names_its_variable_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROVER_CLI_TIMEOUT_SECONDS", "abc")
    assert main(["grids"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "ROVER_CLI_TIMEOUT_SECONDS='abc'" in err
    assert "cli_timeout_seconds" not in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "rover")
def test_help_is_plain_text_with_defaults_and_settings(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text
    assert ":func:" not in text
    assert "--query-address HOST:PORT" in text
    assert "(default: 127.0.0.1:50052)" in text
    assert "(default: 10)" in text
    for variable in ("ROVER_COMMAND_ADDRESS", "ROVER_CLI_TIMEOUT_SECONDS (default: 10.0)"):
        assert variable in text
    assert "exit status:" in text
