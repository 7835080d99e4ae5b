"""The largest valid request of every rover.v1 RPC, built from the rules; receive limits from them.

Each entry builds the request at the edge of what the rules accept (ids at their longest, the
most obstacles at the largest coordinates, the longest command string, the widest varints), so
its protobuf encoding is the most bytes a valid request of that type can take. A server's
``grpc.max_receive_message_length`` is the largest of these over the RPCs it hosts: gRPC then
refuses anything longer (RESOURCE_EXHAUSTED) before a byte of it is parsed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from google.protobuf.message import Message

from domain.rules import MAX_GRID_SIZE, MAX_OBSTACLES
from domain.values import MAX_COMMANDS, MAX_ID_LENGTH, MAX_REQUEST_ID_LENGTH
from protos.rover.v1 import admin_pb2, command_pb2, common_pb2, live_pb2, query_pb2
from services.common.parked import CONSUMERS

__all__ = [
    "HEALTH_AND_REFLECTION_BYTES",
    "MAX_AUDIT_GRIDS",
    "MAX_PAGE_TOKEN_LENGTH",
    "MAX_REPLAY_IDS",
    "MAX_REPLY_STREAM_LENGTH",
    "MAX_RESULT_WAIT_SECONDS",
    "bounded_types",
    "largest_request",
    "max_receive_size",
]

MAX_AUDIT_GRIDS = 1_000
"""The most grid ids one AuditGrids request may name (none: every grid)."""
MAX_REPLAY_IDS = 1_000
"""The most parked-event ids one ReplayParkedEventsRequest may name (or ``all``)."""
MAX_REPLY_STREAM_LENGTH = 200
"""The longest reply stream a SubmitCommand or GetCommandResult request may name."""
MAX_RESULT_WAIT_SECONDS = 60
"""The longest GetCommandResult may wait for a submitted command's outcome."""
MAX_PAGE_TOKEN_LENGTH = 98
"""ListGrids' longest token: unpadded base64 of its 9-byte prefix and a longest grid id
(tests/unit/common/test_request_limits.py holds it equal to the query service's encoder)."""
HEALTH_AND_REFLECTION_BYTES = 4 * 1024
"""The floor of every limit: room for the health and reflection requests each server answers."""

_INT64_MAX = 2**63 - 1  # min_version / from_version: any non-negative value is valid
_INT32_MAX = 2**31 - 1  # page_size: larger values are clamped, not refused
_REQUEST_ID = "\N{GRINNING FACE}" * MAX_REQUEST_ID_LENGTH  # printable, 4 UTF-8 bytes each
_ID = "x" * MAX_ID_LENGTH  # ids are ASCII
_PARKED_ID = "0" * 36  # a UUID's text
_FAR = MAX_GRID_SIZE - 1


def _far_cells() -> list[common_pb2.Position]:
    """MAX_OBSTACLES distinct cells, every coordinate as wide on the wire as the largest one."""
    side = math.isqrt(MAX_OBSTACLES - 1) + 1
    return [
        common_pb2.Position(x=_FAR - i % side, y=_FAR - i // side) for i in range(MAX_OBSTACLES)
    ]


def _addressed(cls: Callable[..., Message]) -> Callable[[], Message]:
    """A rover command of one of the four single-step kinds."""
    return lambda: cls(request_id=_REQUEST_ID, grid_id=_ID, rover_id=_ID)


def _largest_create_grid() -> command_pb2.CreateGridRequest:
    return command_pb2.CreateGridRequest(
        request_id=_REQUEST_ID,
        grid_id=_ID,
        width=MAX_GRID_SIZE,
        height=MAX_GRID_SIZE,
        topology=common_pb2.TOPOLOGY_TOROIDAL,
        obstacles=_far_cells(),
    )


_LARGEST: dict[str, Callable[[], Message]] = {
    "rover.v1.CreateGridRequest": _largest_create_grid,
    "rover.v1.CreateRoverRequest": lambda: command_pb2.CreateRoverRequest(
        request_id=_REQUEST_ID,
        grid_id=_ID,
        rover_id=_ID,
        position=common_pb2.Position(x=_FAR, y=_FAR),
        facing=common_pb2.DIRECTION_WEST,
    ),
    "rover.v1.MoveRoverForwardRequest": _addressed(command_pb2.MoveRoverForwardRequest),
    "rover.v1.MoveRoverBackwardRequest": _addressed(command_pb2.MoveRoverBackwardRequest),
    "rover.v1.TurnRoverLeftRequest": _addressed(command_pb2.TurnRoverLeftRequest),
    "rover.v1.TurnRoverRightRequest": _addressed(command_pb2.TurnRoverRightRequest),
    "rover.v1.ExecuteRoverCommandsRequest": lambda: command_pb2.ExecuteRoverCommandsRequest(
        request_id=_REQUEST_ID, grid_id=_ID, rover_id=_ID, commands="F" * MAX_COMMANDS
    ),
    "rover.v1.SubmitCommandRequest": lambda: command_pb2.SubmitCommandRequest(
        create_grid=_largest_create_grid(),  # the largest command
        reply_stream="x" * MAX_REPLY_STREAM_LENGTH,
    ),
    "rover.v1.GetCommandResultRequest": lambda: command_pb2.GetCommandResultRequest(
        request_id=_REQUEST_ID,
        reply_stream="x" * MAX_REPLY_STREAM_LENGTH,
        wait_seconds=MAX_RESULT_WAIT_SECONDS,
    ),
    "rover.v1.GetGridDetailsRequest": lambda: query_pb2.GetGridDetailsRequest(
        grid_id=_ID, min_version=_INT64_MAX
    ),
    "rover.v1.ListGridsRequest": lambda: query_pb2.ListGridsRequest(
        page_size=_INT32_MAX, page_token="A" * MAX_PAGE_TOKEN_LENGTH
    ),
    "rover.v1.GetRoverRequest": lambda: query_pb2.GetRoverRequest(grid_id=_ID, rover_id=_ID),
    "rover.v1.ListSubscriptionsRequest": admin_pb2.ListSubscriptionsRequest,
    "rover.v1.RebuildRequest": admin_pb2.RebuildRequest,
    "rover.v1.AuditGridsRequest": lambda: admin_pb2.AuditGridsRequest(
        grid_ids=[_ID] * MAX_AUDIT_GRIDS, drifted_only=True
    ),
    "rover.v1.RepairGridRequest": lambda: admin_pb2.RepairGridRequest(grid_id=_ID),
    "rover.v1.ListParkedEventsRequest": lambda: admin_pb2.ListParkedEventsRequest(
        consumer=max(CONSUMERS, key=len)
    ),
    "rover.v1.ReplayParkedEventsRequest": lambda: admin_pb2.ReplayParkedEventsRequest(
        ids=[_PARKED_ID] * MAX_REPLAY_IDS
    ),
    "rover.v1.WatchGridRequest": lambda: live_pb2.WatchGridRequest(
        grid_id=_ID, from_version=_INT64_MAX
    ),
}


def bounded_types() -> frozenset[str]:
    """The request types that have an entry (tests hold them equal to the contract's)."""
    return frozenset(_LARGEST)


def largest_request(message_type: str) -> Message:
    """The largest valid request of a rover.v1 type (KeyError for a type with no entry)."""
    return _LARGEST[message_type]()


def max_receive_size(service_names: Iterable[str]) -> int:
    """The receive limit of a server hosting these services: its largest valid request.

    A service outside the protobuf pool (a test's hand-written one) adds nothing; a method of
    ours whose request has no entry fails loudly, so a new RPC cannot ship without its bound.
    """
    pool = command_pb2.DESCRIPTOR.pool  # the default pool, where every rover.v1 file is
    largest = HEALTH_AND_REFLECTION_BYTES
    for name in service_names:
        try:
            service = pool.FindServiceByName(name)
        except KeyError:
            continue
        for method in service.methods:
            size = largest_request(method.input_type.full_name).ByteSize()
            largest = max(largest, size)
    return largest
