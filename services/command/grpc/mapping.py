"""Translate between rover.v1 messages and the application: requests, results and errors.

``STATUS`` is the ONE table by which failures become gRPC statuses.
"""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from domain.errors import (
    DomainError,
    ErrorCategory,
    EventHistoryInvalidError,
    GridAlreadyExistsError,
    GridNotFoundError,
    InvalidDirectionError,
    InvalidPositionError,
    InvalidTopologyError,
    RoverAlreadyExistsError,
    RoverNotFoundError,
)
from domain.rules import check_obstacle_count
from domain.values import Direction, Position, Topology
from protos.rover.v1 import command_pb2, common_pb2
from services.command.application.commands import (
    CommandResult,
    CreateGrid,
    CreateRover,
    ExecuteRoverCommands,
    MoveRoverBackward,
    MoveRoverForward,
    TurnRoverLeft,
    TurnRoverRight,
)
from services.command.application.errors import CommandAbortedError, StoreUnavailableError
from services.common import rich_errors
from services.common.integration import (
    blocked_by_to_proto,
    direction_from_proto,
    position_to_proto,
    rover_to_proto,
    to_proto,
    topology_from_proto,
)
from services.common.parked import PoisonEventError
from services.common.rich_errors import ErrorStatus
from services.common.status_table import Rule, StatusTable

__all__ = [
    "STATUS",
    "create_grid",
    "create_rover",
    "execute",
    "move_backward",
    "move_forward",
    "result_to_proto",
    "turn_left",
    "turn_right",
]

_CODES = {
    ErrorCategory.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCategory.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCategory.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCategory.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCategory.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCategory.INTERNAL: grpc.StatusCode.INTERNAL,
}


# --- requests ----------------------------------------------------------------------------------


def _facing(value: int) -> Direction:
    try:
        return direction_from_proto(value)
    except KeyError:
        raise InvalidDirectionError(
            "facing must be DIRECTION_NORTH, _EAST, _SOUTH or _WEST", field="facing"
        ) from None


def _topology(value: int) -> Topology:
    if value == common_pb2.TOPOLOGY_UNSPECIFIED:
        return Topology.BOUNDED
    try:
        return topology_from_proto(value)
    except KeyError:
        raise InvalidTopologyError(
            f"topology {value} is not TOPOLOGY_BOUNDED or TOPOLOGY_TOROIDAL", field="topology"
        ) from None


def create_grid(request: command_pb2.CreateGridRequest) -> CreateGrid:
    """CreateGridRequest -> CreateGrid (the obstacles counted before any is converted)."""
    check_obstacle_count(len(request.obstacles))
    return CreateGrid(
        request_id=request.request_id,
        grid_id=request.grid_id,
        width=request.width,
        height=request.height,
        topology=_topology(request.topology),
        obstacles=tuple(Position(p.x, p.y) for p in request.obstacles),
    )


def create_rover(request: command_pb2.CreateRoverRequest) -> CreateRover:
    """CreateRoverRequest -> CreateRover (a position is required)."""
    if not request.HasField("position"):
        raise InvalidPositionError("position is required", field="position")
    return CreateRover(
        request_id=request.request_id,
        grid_id=request.grid_id,
        rover_id=request.rover_id,
        position=Position(request.position.x, request.position.y),
        facing=_facing(request.facing),
    )


def move_forward(request: command_pb2.MoveRoverForwardRequest) -> MoveRoverForward:
    """MoveRoverForwardRequest -> MoveRoverForward."""
    return MoveRoverForward(
        request_id=request.request_id, grid_id=request.grid_id, rover_id=request.rover_id
    )


def move_backward(request: command_pb2.MoveRoverBackwardRequest) -> MoveRoverBackward:
    """MoveRoverBackwardRequest -> MoveRoverBackward."""
    return MoveRoverBackward(
        request_id=request.request_id, grid_id=request.grid_id, rover_id=request.rover_id
    )


def turn_left(request: command_pb2.TurnRoverLeftRequest) -> TurnRoverLeft:
    """TurnRoverLeftRequest -> TurnRoverLeft."""
    return TurnRoverLeft(
        request_id=request.request_id, grid_id=request.grid_id, rover_id=request.rover_id
    )


def turn_right(request: command_pb2.TurnRoverRightRequest) -> TurnRoverRight:
    """TurnRoverRightRequest -> TurnRoverRight."""
    return TurnRoverRight(
        request_id=request.request_id, grid_id=request.grid_id, rover_id=request.rover_id
    )


def execute(request: command_pb2.ExecuteRoverCommandsRequest) -> ExecuteRoverCommands:
    """ExecuteRoverCommandsRequest -> ExecuteRoverCommands."""
    return ExecuteRoverCommands(
        request_id=request.request_id,
        grid_id=request.grid_id,
        rover_id=request.rover_id,
        commands=request.commands,
    )


# --- results -----------------------------------------------------------------------------------


def result_to_proto(result: CommandResult) -> command_pb2.CommandResult:
    """The public CommandResult: events exactly as the publisher writes them."""
    message = command_pb2.CommandResult(
        grid_id=str(result.grid_id),
        version=result.version,
        events=[to_proto(envelope) for envelope in result.events],
    )
    if result.rover is not None:
        message.rover.CopyFrom(rover_to_proto(result.rover))
    if result.block is not None:
        block = result.block
        message.block.CopyFrom(
            common_pb2.Block(
                position=position_to_proto(block.position),
                target=position_to_proto(block.target),
                blocked_by=blocked_by_to_proto(block.blocked_by),
                blocking_rover_id=str(block.blocking_rover_id or ""),
                remaining_commands=block.unexecuted_commands,
            )
        )
    return message


# --- errors ------------------------------------------------------------------------------------


def _resource(error: DomainError) -> tuple[Message, ...]:
    match error:
        case GridAlreadyExistsError():
            return (rich_errors.resource_info("rover.v1.Grid", f"grids/{error.grid_id}"),)
        case RoverAlreadyExistsError():
            name = f"grids/{error.grid_id}/rovers/{error.rover_id}"
            return (rich_errors.resource_info("rover.v1.Rover", name),)
    return ()


def _domain_status(error: DomainError) -> ErrorStatus:
    code = _CODES[error.category]
    metadata = {"field": error.field} if error.field else {}
    details: list[Message] = [rich_errors.error_info(error.reason, metadata)]
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        details.insert(0, rich_errors.bad_request([(error.field or "", error.message)]))
    elif code is grpc.StatusCode.FAILED_PRECONDITION:
        details.append(
            rich_errors.precondition_failure(error.reason, error.field or "", error.message)
        )
    message = (
        "internal error: stored data is inconsistent"
        if error.category is (ErrorCategory.INTERNAL)
        else error.message
    )
    return ErrorStatus(code, message, (*details, *_resource(error)))


_REPAIR = "it takes no commands until an operator repairs it (docs/operations.md, Parked events)"


def _unreadable(error: PoisonEventError) -> ErrorStatus:
    """A grid whose stored history has an event this code cannot decode: the grid's state,
    not the request, is at fault, and retrying will not help."""
    poison = error.poison
    message = (
        f"grid {poison.grid_id!r} cannot be loaded: its stored event at version "
        f"{poison.sequence} ({poison.event_type}) {poison.reason}; {_REPAIR}"
    )
    reason = "GRID_HISTORY_UNREADABLE"
    metadata = {"grid_id": poison.grid_id, "version": str(poison.sequence)}
    return ErrorStatus(
        grpc.StatusCode.FAILED_PRECONDITION,
        message,
        (
            rich_errors.error_info(reason, metadata),
            rich_errors.precondition_failure(reason, f"grids/{poison.grid_id}", message),
        ),
    )


def _inconsistent(error: EventHistoryInvalidError) -> ErrorStatus:
    """A stored history that decodes but folds to no valid grid (written around the service)."""
    message = f"the grid's stored history is inconsistent: {error.message}; {_REPAIR}"
    return ErrorStatus(
        grpc.StatusCode.FAILED_PRECONDITION,
        message,
        (
            rich_errors.error_info(error.reason),
            rich_errors.precondition_failure(error.reason, "grid", message),
        ),
    )


# THE mapping of the command service's failures to statuses (first match wins).
STATUS = StatusTable(
    "command",
    [
        Rule(GridNotFoundError, lambda e: rich_errors.not_found(e.grid_id)),
        Rule(RoverNotFoundError, lambda e: rich_errors.not_found(e.grid_id, e.rover_id)),
        Rule(EventHistoryInvalidError, _inconsistent),
        Rule(DomainError, _domain_status),
        Rule(PoisonEventError, _unreadable),
        Rule(
            CommandAbortedError,
            lambda e: ErrorStatus(
                grpc.StatusCode.ABORTED,
                f"{e}; retry with the same request_id",
                (rich_errors.error_info("CONCURRENT_MODIFICATION", {"grid_id": e.grid_id}),),
            ),
        ),
        Rule(
            StoreUnavailableError,
            lambda e: ErrorStatus(
                grpc.StatusCode.UNAVAILABLE,
                "the event store cannot be reached; retry with the same request_id",
                (
                    rich_errors.error_info("EVENT_STORE_UNAVAILABLE"),
                    error_details_pb2.RetryInfo(retry_delay=Duration(seconds=1)),
                ),
            ),
        ),
    ],
)
