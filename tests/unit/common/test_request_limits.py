"""The largest valid requests: one per rover.v1 RPC, valid by the rules, and the widest encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.rules import MAX_GRID_SIZE, MAX_OBSTACLES, check_obstacle_count, check_obstacles
from domain.values import (
    MAX_ID_LENGTH,
    MAX_REQUEST_ID_LENGTH,
    GridId,
    Position,
    RoverId,
    parse_commands,
)
from protos.rover.v1 import admin_pb2, command_pb2, live_pb2, query_pb2
from services.command.application.executor import check_request_id
from services.common.request_limits import (
    HEALTH_AND_REFLECTION_BYTES,
    MAX_PAGE_TOKEN_LENGTH,
    bounded_types,
    largest_request,
    max_receive_size,
)
from services.query.application.queries import decode_page_token, encode_page_token

_FILES = (command_pb2, query_pb2, admin_pb2, live_pb2)
_SERVICES = [s for f in _FILES for s in f.DESCRIPTOR.services_by_name.values()]


def test_every_rpc_has_a_largest_request() -> None:
    for service in _SERVICES:
        for method in service.methods:
            request = largest_request(method.input_type.full_name)
            assert request.DESCRIPTOR is method.input_type


def test_no_entry_without_an_rpc() -> None:
    inputs = {m.input_type.full_name for s in _SERVICES for m in s.methods}
    assert bounded_types() == inputs


def test_a_server_limit_is_its_largest_request_or_the_floor() -> None:
    for service in _SERVICES:
        sizes = [largest_request(m.input_type.full_name).ByteSize() for m in service.methods]
        assert max_receive_size([service.full_name]) == max(HEALTH_AND_REFLECTION_BYTES, *sizes)
    assert max_receive_size(["test.Unknown"]) == HEALTH_AND_REFLECTION_BYTES


def test_the_largest_create_grid_is_valid() -> None:
    request = largest_request("rover.v1.CreateGridRequest")
    assert isinstance(request, command_pb2.CreateGridRequest)
    check_request_id(request.request_id)
    assert len(request.request_id) == MAX_REQUEST_ID_LENGTH
    assert len(request.request_id.encode()) == 4 * MAX_REQUEST_ID_LENGTH
    GridId(request.grid_id)
    assert request.width == request.height == MAX_GRID_SIZE
    cells = [Position(p.x, p.y) for p in request.obstacles]
    assert len(check_obstacles(cells, request.width, request.height)) == MAX_OBSTACLES
    # Every coordinate takes two varint bytes, as the largest one does.
    assert all(2**7 <= v < 2**14 for cell in cells for v in cell)
    assert 2**7 <= MAX_GRID_SIZE - 1 < 2**14


def test_one_more_obstacle_is_refused_by_count() -> None:
    check_obstacle_count(MAX_OBSTACLES)
    with pytest.raises(Exception, match="at most"):
        check_obstacle_count(MAX_OBSTACLES + 1)


def test_the_largest_commands_and_ids_are_valid() -> None:
    request = largest_request("rover.v1.ExecuteRoverCommandsRequest")
    assert isinstance(request, command_pb2.ExecuteRoverCommandsRequest)
    parse_commands(request.commands)
    RoverId(request.rover_id)
    with pytest.raises(Exception, match="at most"):
        parse_commands(request.commands + "F")


def test_the_page_token_bound_is_the_encoders_longest() -> None:
    longest_id = "x" * MAX_ID_LENGTH
    longest = encode_page_token(longest_id)
    assert len(longest) == MAX_PAGE_TOKEN_LENGTH
    assert decode_page_token(longest) == longest_id


def test_the_documented_limits_are_the_derived_ones() -> None:
    api = (Path(__file__).parents[3] / "docs" / "api.md").read_text()
    for services in (
        ["rover.v1.RoverCommandService"],
        ["rover.v1.RoverQueryService", "rover.v1.RoverAdminService"],
        ["rover.v1.RoverLiveService"],
    ):
        assert f"{max_receive_size(services):,} " in api.replace("\n", " ")
