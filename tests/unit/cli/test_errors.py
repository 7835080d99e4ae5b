"""The CLI's error lines: the same for every service, the message once; its exit codes."""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from services.cli.errors import (
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    exit_code_for,
    format_rpc_error,
)
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


def test_the_message_is_said_once() -> None:
    message = "invalid command 'X' at index 1 of 'FXF'"
    line = format_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        message,
        [
            bad_request([("commands", message)]),
            error_info("INVALID_COMMAND", {"field": "commands"}),
        ],
    )
    assert line == f"INVALID_ARGUMENT: {message} [field commands; reason INVALID_COMMAND]"
    assert line.count("index 1") == 1


def test_not_found_reads_the_same_whichever_service_sent_it() -> None:
    message = "grid 'mars' not found"
    query = [resource_info("rover.v1.Grid", "grids/mars", message), error_info("GRID_NOT_FOUND")]
    live = [error_info("GRID_NOT_FOUND"), resource_info("rover.v1.Grid", "grids/mars")]
    lines = {format_rpc_error(grpc.StatusCode.NOT_FOUND, message, d) for d in (query, live)}
    assert lines == {f"NOT_FOUND: {message} [rover.v1.Grid grids/mars; reason GRID_NOT_FOUND]"}


def test_details_come_in_one_fixed_order_and_say_what_the_message_does_not() -> None:
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2))
    details = [
        retry,
        error_info("MIN_VERSION_NOT_REACHED", {"wanted": "7", "projected": "5"}),
        resource_info("rover.v1.Grid", "grids/mars", "the read model is behind"),
        precondition_failure("VERSION", "grids/mars", "version 7 not projected yet"),
        error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(subject="watchers", description="")
            ]
        ),
        bad_request([("min_version", "beyond the grid")]),
    ]
    line = format_rpc_error(grpc.StatusCode.UNAVAILABLE, "version 7 not projected yet", details)
    assert line == (
        "UNAVAILABLE: version 7 not projected yet [min_version: beyond the grid; "
        "VERSION grids/mars; watchers; rover.v1.Grid grids/mars: the read model is behind; "
        "reason MIN_VERSION_NOT_REACHED (projected=5, wanted=7); retry after 2s]"
    )
    assert format_rpc_error(grpc.StatusCode.UNAVAILABLE, "m", list(reversed(details))) == (
        format_rpc_error(grpc.StatusCode.UNAVAILABLE, "m", details)
    )
