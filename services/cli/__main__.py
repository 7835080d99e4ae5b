"""``rover``: create grids, land and drive rovers, draw and watch them, from a terminal.

Exit codes: 0 done (a blocked move is not an error); 1 the service refused (the line says
why); 2 bad command line; 3 the service could not be reached; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from pydantic import ValidationError

from protos.rover.v1 import (
    command_pb2,
    command_pb2_grpc,
    common_pb2,
    live_pb2,
    live_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)
from services.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    describe_rpc_error,
    exit_code_for,
)
from services.cli.render import describe_event, describe_result, render_grid
from services.cli.settings import CliSettings, dial
from services.cli.watch import follow

__all__ = ["build_parser", "main", "parse_facing", "parse_position"]

_FACINGS = {
    "N": common_pb2.DIRECTION_NORTH,
    "E": common_pb2.DIRECTION_EAST,
    "S": common_pb2.DIRECTION_SOUTH,
    "W": common_pb2.DIRECTION_WEST,
}
_CLEAR = "\x1b[H\x1b[2J"


def parse_position(text: str) -> common_pb2.Position:
    """``"1,2"`` to a Position (argparse type)."""
    x, sep, y = text.partition(",")
    try:
        if not sep:
            raise ValueError(text)
        return common_pb2.Position(x=int(x), y=int(y))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y (e.g. 1,2)") from None


def parse_facing(text: str) -> common_pb2.Direction.ValueType:
    """``N``/``north`` (any case) to a Direction (argparse type)."""
    word = text.strip().upper()
    names = {"NORTH": "N", "EAST": "E", "SOUTH": "S", "WEST": "W"}
    key = names.get(word, word)
    if key not in _FACINGS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of N, E, S, W")
    return _FACINGS[key]


@dataclass(frozen=True, slots=True)
class _Target:
    address: str
    setting: str


def build_parser(settings: CliSettings) -> argparse.ArgumentParser:
    """The whole command line; defaults come from ``settings``."""
    parser = argparse.ArgumentParser(prog="rover", description=__doc__.splitlines()[0])
    parser.add_argument("--command-address", default=settings.command_address)
    parser.add_argument("--query-address", default=settings.query_address)
    parser.add_argument("--live-address", default=settings.broadcaster_address)
    parser.add_argument("--timeout", type=float, default=settings.cli_timeout_seconds)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grid = commands.add_parser("grid", help="grid commands").add_subparsers(
        dest="grid_command", required=True, metavar="create"
    )
    create = grid.add_parser("create", help="create a grid")
    create.add_argument("--width", type=int, required=True)
    create.add_argument("--height", type=int, required=True)
    create.add_argument("--obstacle", type=parse_position, action="append", default=[])
    create.add_argument("--toroidal", action="store_true", help="edges wrap around")
    create.add_argument("--id", default="", help="grid id (default: generated)")

    land = commands.add_parser("land", help="land a rover on a grid")
    land.add_argument("grid")
    land.add_argument("--at", type=parse_position, required=True, metavar="X,Y")
    land.add_argument("--facing", type=parse_facing, required=True, metavar="N|E|S|W")
    land.add_argument("--id", default="", help="rover id (default: generated)")

    drive = commands.add_parser("drive", help="run commands such as FFRFF (F B L R, M=F)")
    drive.add_argument("grid")
    drive.add_argument("rover")
    drive.add_argument("commands")
    drive.add_argument("--no-map", action="store_true", help="do not draw the grid after")

    show = commands.add_parser("show", help="draw a grid as a map")
    show.add_argument("grid")
    commands.add_parser("grids", help="list the grids")
    watch = commands.add_parser("watch", help="redraw a grid live (Ctrl-C to stop)")
    watch.add_argument("grid")
    watch.add_argument("--from-version", type=int, default=None)
    return parser


class _Client:
    """Stubs over insecure channels; each call has the CLI's deadline."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.timeout: float = args.timeout
        self.command = _Target(
            dial(args.command_address), "--command-address or ROVER_COMMAND_ADDRESS"
        )
        self.query = _Target(dial(args.query_address), "--query-address or ROVER_QUERY_ADDRESS")
        self.live = _Target(dial(args.live_address), "--live-address or ROVER_BROADCASTER_ADDRESS")

    def commands(self) -> command_pb2_grpc.RoverCommandServiceStub:
        return command_pb2_grpc.RoverCommandServiceStub(grpc.insecure_channel(self.command.address))

    def queries(self) -> query_pb2_grpc.RoverQueryServiceStub:
        return query_pb2_grpc.RoverQueryServiceStub(grpc.insecure_channel(self.query.address))

    def watcher(self) -> live_pb2_grpc.RoverLiveServiceStub:
        return live_pb2_grpc.RoverLiveServiceStub(grpc.insecure_channel(self.live.address))


def _run(args: argparse.Namespace, client: _Client, out: Callable[[str], None]) -> int:
    request_id = str(uuid.uuid4())
    if args.command == "grid":
        topology = common_pb2.TOPOLOGY_TOROIDAL if args.toroidal else common_pb2.TOPOLOGY_BOUNDED
        result = client.commands().CreateGrid(
            command_pb2.CreateGridRequest(
                request_id=request_id,
                grid_id=args.id,
                width=args.width,
                height=args.height,
                topology=topology,
                obstacles=args.obstacle,
            ),
            timeout=client.timeout,
        )
        out(describe_result(result))
    elif args.command == "land":
        result = client.commands().CreateRover(
            command_pb2.CreateRoverRequest(
                request_id=request_id,
                grid_id=args.grid,
                rover_id=args.id,
                position=args.at,
                facing=args.facing,
            ),
            timeout=client.timeout,
        )
        out(describe_result(result))
    elif args.command == "drive":
        result = client.commands().ExecuteRoverCommands(
            command_pb2.ExecuteRoverCommandsRequest(
                request_id=request_id,
                grid_id=args.grid,
                rover_id=args.rover,
                commands=args.commands,
            ),
            timeout=client.timeout,
        )
        out(describe_result(result))
        if not args.no_map:
            request = query_pb2.GetGridDetailsRequest(grid_id=args.grid, min_version=result.version)
            try:
                details = client.queries().GetGridDetails(request, timeout=client.timeout)
            except grpc.RpcError as error:  # the command is done; only the map is missing
                note = describe_rpc_error(error, target=client.query.address)
                sys.stderr.write(f"rover: no map: {note}\n")
            else:
                out(render_grid(details))
    elif args.command == "show":
        request = query_pb2.GetGridDetailsRequest(grid_id=args.grid)
        out(render_grid(client.queries().GetGridDetails(request, timeout=client.timeout)))
    elif args.command == "grids":
        _list_grids(client, out)
    elif args.command == "watch":
        _watch(args, client, out)
    return EXIT_OK


def _list_grids(client: _Client, out: Callable[[str], None]) -> None:
    token, rows = "", [f"{'GRID':<24} {'SIZE':>11} {'TOPOLOGY':<9} {'ROVERS':>6} {'VERSION':>7}"]
    while True:
        page = client.queries().ListGrids(
            query_pb2.ListGridsRequest(page_size=200, page_token=token), timeout=client.timeout
        )
        for g in page.grids:
            topology = "toroidal" if g.topology == common_pb2.TOPOLOGY_TOROIDAL else "bounded"
            size = f"{g.width}x{g.height}"
            rows.append(
                f"{g.grid_id:<24} {size:>11} {topology:<9} {g.rover_count:>6} {g.version:>7}"
            )
        token = page.next_page_token
        if not token:
            break
    out("\n".join(rows) if len(rows) > 1 else "no grids yet: create one with `rover grid create`")


def _watch(args: argparse.Namespace, client: _Client, out: Callable[[str], None]) -> None:
    clear = _CLEAR if sys.stdout.isatty() else "\n"

    def draw(state: common_pb2.GridDetails, update: live_pb2.GridUpdate) -> None:
        last = "snapshot" if update.WhichOneof("update") == "snapshot" else ""
        if update.WhichOneof("update") == "event":
            last = describe_event(update.event.event)
        out(f"{clear}{render_grid(state)}\nlast: {last}\n(Ctrl-C to stop)")

    state: common_pb2.GridDetails | None = None
    from_version: int | None = args.from_version
    while True:
        request = live_pb2.WatchGridRequest(grid_id=args.grid)
        if from_version is not None:
            request.from_version = from_version
        state, from_version = follow(client.watcher().WatchGrid(request), draw, state)
        if from_version is None:
            return  # the server ended the stream without asking to resume


def _target_of(args: argparse.Namespace, client: _Client) -> _Target:
    if args.command in ("show", "grids"):
        return client.query
    if args.command == "watch":
        return client.live
    return client.command


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rover`` console script; returns the exit status."""
    try:
        settings = CliSettings()
    except ValidationError as error:
        sys.stderr.write(f"rover: invalid ROVER_* setting: {error}\n")
        return EXIT_USAGE
    args = build_parser(settings).parse_args(argv)
    client = _Client(args)

    def out(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    try:
        return _run(args, client, out)
    except grpc.RpcError as error:
        target = _target_of(args, client)
        message = describe_rpc_error(error, target=target.address, setting=target.setting)
        sys.stderr.write(f"rover: {message}\n")
        return exit_code_for(error.code())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
