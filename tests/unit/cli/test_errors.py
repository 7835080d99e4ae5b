"""The CLI's error lines and exit codes, and its command line."""

from __future__ import annotations

import argparse

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from protos.rover.v1 import common_pb2
from services.cli.__main__ import build_parser, main, parse_facing, parse_position
from services.cli.errors import (
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    exit_code_for,
    format_rpc_error,
)
from services.cli.settings import CliSettings, dial
from services.common.rich_errors import bad_request, error_info, precondition_failure, resource_info


def test_field_violations_and_reason_on_one_line() -> None:
    line = format_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "2 invalid fields",
        [
            bad_request([("width", "must be in 1..10000"), ("obstacles[1]", "outside the grid")]),
            error_info("GRID_SIZE_OUT_OF_RANGE"),
        ],
    )
    assert line == (
        "INVALID_ARGUMENT: 2 invalid fields [width: must be in 1..10000; "
        "obstacles[1]: outside the grid; reason GRID_SIZE_OUT_OF_RANGE]"
    )
    assert "\n" not in line


def test_resources_preconditions_and_retries() -> None:
    retry = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=1, nanos=5 * 10**8)
    )
    line = format_rpc_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "cell (1,2) is taken",
        [
            precondition_failure("CELL_OCCUPIED", "grids/mars/cells/1,2", "rover r1 is there"),
            resource_info("rover.v1.Grid", "grids/mars"),
            retry,
        ],
    )
    assert line == (
        "FAILED_PRECONDITION: cell (1,2) is taken [CELL_OCCUPIED grids/mars/cells/1,2: "
        "rover r1 is there; rover.v1.Grid grids/mars; retry after 1.5s]"
    )


def test_unreachable_services_get_a_hint_and_their_own_exit_code() -> None:
    line = format_rpc_error(
        grpc.StatusCode.UNAVAILABLE,
        "failed to connect",
        target="127.0.0.1:50052",
        setting="--query-address or ROVER_QUERY_ADDRESS",
    )
    assert line.startswith("UNAVAILABLE: failed to connect (is the system running at 127.0.0.1")
    assert "`make run`" in line
    assert "ROVER_QUERY_ADDRESS" in line
    assert format_rpc_error(grpc.StatusCode.NOT_FOUND, "") == "NOT_FOUND: (no message)"
    assert exit_code_for(grpc.StatusCode.UNAVAILABLE) == EXIT_UNREACHABLE
    assert exit_code_for(grpc.StatusCode.DEADLINE_EXCEEDED) == EXIT_UNREACHABLE
    assert exit_code_for(grpc.StatusCode.NOT_FOUND) == EXIT_REJECTED


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
    parser = build_parser(CliSettings())
    args = parser.parse_args(
        ["grid", "create", "--width", "5", "--height", "4", "--obstacle", "1,2",
         "--obstacle", "3,3", "--toroidal", "--id", "mars"]
    )  # fmt: skip
    assert (args.width, args.height, args.toroidal, args.id) == (5, 4, True, "mars")
    assert [(p.x, p.y) for p in args.obstacle] == [(1, 2), (3, 3)]
    assert args.query_address == "0.0.0.0:7000"
    assert dial(args.query_address) == "127.0.0.1:7000"
    assert args.command_address == "127.0.0.1:50051"
    args = parser.parse_args(["drive", "mars", "spirit", "FFRFF"])
    assert (args.grid, args.rover, args.commands) == ("mars", "spirit", "FFRFF")


def test_an_unreachable_service_exits_3_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["--query-address", "127.0.0.1:1", "--timeout", "2", "show", "mars"])
    assert status == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.startswith("rover: UNAVAILABLE: ")
    assert err.count("\n") == 1
    assert "--query-address or ROVER_QUERY_ADDRESS" in err


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["land", "mars", "--at", "1", "--facing", "N"])
    assert caught.value.code == 2
    assert "'1' is not X,Y" in capsys.readouterr().err
