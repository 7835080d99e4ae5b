"""``rover submit ...`` (queue a command on the command inbox) and ``rover result REQUEST_ID``.

``rover submit`` takes the words of the direct commands (``grid create``, ``land``, ``drive``)
and enqueues the same request through SubmitCommand; ``--wait`` then reads the outcome as
``rover result`` does, which prints what the direct command prints (or its error).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from protos.rover.v1 import command_pb2, command_pb2_grpc, common_pb2
from services.cli.render import describe_result
from services.common.request_limits import MAX_RESULT_WAIT_SECONDS
from services.common.rich_errors import details_of

__all__ = [
    "EXIT_PENDING",
    "add_command_words",
    "add_result_options",
    "command_request",
    "run_result",
    "run_submit",
]

EXIT_PENDING = 5  # rover result / submit --wait: the command has no outcome yet
_PENDING = "COMMAND_PENDING"
Out = Callable[[str], None]
Sub = Callable[..., argparse.ArgumentParser]
_SUBMIT_FIELDS = {  # SubmitCommandRequest's oneof field of each request type
    field.message_type.full_name: field.name
    for field in command_pb2.SubmitCommandRequest.DESCRIPTOR.oneofs_by_name["command"].fields
}


def add_command_words(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    sub: Sub,
    parse_position: Callable[[str], common_pb2.Position],
    parse_facing: Callable[[str], common_pb2.Direction.ValueType],
) -> list[argparse.ArgumentParser]:
    """``grid create``, ``land`` and ``drive``: the same words direct and under ``submit``;
    their parsers."""
    grid = sub(commands, "grid", "grid commands (grid create)").add_subparsers(
        dest="grid_command", required=True, metavar="create"
    )
    create = sub(grid, "create", "create a grid")
    create.add_argument("--width", type=int, required=True, help="cells from West to East")
    create.add_argument("--height", type=int, required=True, help="cells from South to North")
    create.add_argument(
        "--obstacle", type=parse_position, action="append", default=[], metavar="X,Y",
        help="a rock at X,Y (repeat for more; default: none)",
    )  # fmt: skip
    create.add_argument("--toroidal", action="store_true", help="edges wrap around")
    create.add_argument("--id", default="", help="grid id (default: generated)")

    land = sub(commands, "land", "land a rover on a grid")
    land.add_argument("grid", help="grid id")
    land.add_argument(
        "--at", type=parse_position, required=True, metavar="X,Y", help="where (e.g. 1,2 or -1,0)"
    )
    land.add_argument(
        "--facing", type=parse_facing, required=True, metavar="N|E|S|W", help="which way it faces"
    )
    land.add_argument("--id", default="", help="rover id (default: generated)")

    drive = sub(commands, "drive", "run commands such as FFRFF (F B L R, M=F)")
    drive.add_argument("grid", help="grid id")
    drive.add_argument("rover", help="rover id")
    drive.add_argument("commands", help="F forward, B backward, L left, R right (M = F)")
    drive.add_argument("--no-map", action="store_true", help="do not draw the grid after")
    return [create, land, drive]


def add_result_options(parser: argparse.ArgumentParser, *, submit: bool) -> None:
    """``--wait``, ``--reply-stream`` (and ``--request-id`` for submit)."""
    parser.add_argument(
        "--wait", type=int, nargs="?", const=30, default=None if submit else 0, metavar="SECONDS",
        help=f"wait up to SECONDS (default 30, at most {MAX_RESULT_WAIT_SECONDS}) for the "
        "outcome and print it" + ("" if submit else " (default: answer at once)"),
    )  # fmt: skip
    parser.add_argument(
        "--reply-stream", default="", metavar="STREAM",
        help="the reply stream named at submission (default: rover-reply-REQUEST_ID)",
    )  # fmt: skip
    if submit:
        parser.add_argument(
            "--request-id", default="", metavar="ID",
            help="the command's request id (default: generated); resubmitting it is safe",
        )  # fmt: skip


def command_request(args: argparse.Namespace, word: str, request_id: str) -> Message:
    """The request of a ``grid create``, ``land`` or ``drive`` command line (``word``)."""
    if word == "grid":
        topology = common_pb2.TOPOLOGY_TOROIDAL if args.toroidal else common_pb2.TOPOLOGY_BOUNDED
        return command_pb2.CreateGridRequest(
            request_id=request_id, grid_id=args.id, width=args.width, height=args.height,
            topology=topology, obstacles=args.obstacle,
        )  # fmt: skip
    if word == "land":
        return command_pb2.CreateRoverRequest(
            request_id=request_id, grid_id=args.grid, rover_id=args.id, position=args.at,
            facing=args.facing,
        )  # fmt: skip
    return command_pb2.ExecuteRoverCommandsRequest(
        request_id=request_id, grid_id=args.grid, rover_id=args.rover, commands=args.commands
    )


def run_submit(
    args: argparse.Namespace,
    stub: command_pb2_grpc.RoverCommandServiceStub,
    timeout: float,
    out: Out,
) -> int:
    """Enqueue; with ``--wait``, print the outcome as ``rover result`` does."""
    inner = command_request(args, args.submitted_command, args.request_id)
    request = command_pb2.SubmitCommandRequest(reply_stream=args.reply_stream)
    getattr(request, _SUBMIT_FIELDS[inner.DESCRIPTOR.full_name]).CopyFrom(inner)
    submitted = stub.SubmitCommand(request, timeout=timeout)
    out(
        f"submitted {submitted.request_id} to {submitted.inbox_stream} "
        f"(position {submitted.inbox_commit_position}); outcome in {submitted.reply_stream}"
    )
    if args.wait is None:
        out(f"read it with: rover result {submitted.request_id}" + _named(args.reply_stream))
        return 0
    return _print_result(
        stub, submitted.request_id, args.reply_stream, wait=args.wait, timeout=timeout, out=out
    )


def run_result(
    args: argparse.Namespace,
    stub: command_pb2_grpc.RoverCommandServiceStub,
    timeout: float,
    out: Out,
) -> int:
    """Print a submitted command's outcome (its error goes up as the direct command's would)."""
    return _print_result(
        stub, args.request_id, args.reply_stream, wait=args.wait, timeout=timeout, out=out
    )


def _named(reply_stream: str) -> str:
    return f" --reply-stream {reply_stream}" if reply_stream else ""


def _print_result(
    stub: command_pb2_grpc.RoverCommandServiceStub,
    request_id: str,
    reply_stream: str,
    *,
    wait: int,
    timeout: float,
    out: Out,
) -> int:
    request = command_pb2.GetCommandResultRequest(
        request_id=request_id, reply_stream=reply_stream, wait_seconds=wait
    )
    try:
        result = stub.GetCommandResult(request, timeout=timeout + wait)
    except grpc.RpcError as error:
        if not _pending(error):
            raise
        out(
            f"{request_id}: no outcome yet (not applied); ask again: "
            f"rover result {request_id}{_named(reply_stream)} --wait"
        )
        return EXIT_PENDING
    out(describe_result(result))
    return 0


def _pending(error: grpc.RpcError) -> bool:
    return any(
        isinstance(detail, error_details_pb2.ErrorInfo) and detail.reason == _PENDING
        for detail in details_of(error)
    )
