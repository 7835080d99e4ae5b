"""rover: create grids, land and drive rovers, draw and watch them, from a terminal."""

from __future__ import annotations

import argparse
import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from protos.rover.v1 import (
    admin_pb2_grpc,
    command_pb2,
    command_pb2_grpc,
    common_pb2,
    live_pb2,
    live_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)
from services.cli.admin import run_admin
from services.cli.channels import open_channel
from services.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    describe_rpc_error,
    exit_code_for,
)
from services.cli.parser import build_parser, join_negative_values
from services.cli.render import describe_result, render_grid, render_grid_list, rover_labels
from services.cli.settings import CliSettings, dial
from services.cli.submit import command_request, run_result, run_submit
from services.cli.watch import UpdateStream, Watch, WatchGaveUpError
from services.common.channels import LIVE_CHANNEL_OPTIONS
from services.common.settings_text import SettingsError, load_settings
from services.common.tls import TlsClientSettings

__all__ = ["main"]

Out = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Target:
    address: str
    setting: str


class _Client:
    """Stubs over plaintext or TLS channels; each call has the CLI's deadline."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.timeout: float = args.timeout
        self.token: str = args.token
        self.credentials = TlsClientSettings(
            tls_ca_file=args.ca_file,
            tls_client_cert_file=args.cert_file,
            tls_client_key_file=args.key_file,
        ).channel_credentials()
        self.command = _Target(
            dial(args.command_address), "--command-address or ROVER_COMMAND_ADDRESS"
        )
        self.query = _Target(dial(args.query_address), "--query-address or ROVER_QUERY_ADDRESS")
        self.live = _Target(dial(args.live_address), "--live-address or ROVER_BROADCASTER_ADDRESS")

    def commands(self) -> command_pb2_grpc.RoverCommandServiceStub:
        return command_pb2_grpc.RoverCommandServiceStub(
            open_channel(self.command.address, self.token, credentials=self.credentials)
        )

    def queries(self) -> query_pb2_grpc.RoverQueryServiceStub:
        channel = open_channel(self.query.address, self.token, credentials=self.credentials)
        return query_pb2_grpc.RoverQueryServiceStub(channel)

    def admin(self) -> admin_pb2_grpc.RoverAdminServiceStub:
        channel = open_channel(self.query.address, self.token, credentials=self.credentials)
        return admin_pb2_grpc.RoverAdminServiceStub(channel)

    def target_of(self, command: str) -> _Target:
        if command in ("show", "grids", "admin"):
            return self.query
        return self.live if command == "watch" else self.command


def _run(args: argparse.Namespace, client: _Client, out: Out) -> int:
    if args.command in ("grid", "land", "drive"):
        result = _direct(args, client)
        out(describe_result(result))
        if args.command == "drive" and not args.no_map:
            request = query_pb2.GetGridDetailsRequest(grid_id=args.grid, min_version=result.version)
            try:
                details = client.queries().GetGridDetails(request, timeout=client.timeout)
            except grpc.RpcError as error:  # the command is done; only the map is missing
                note = describe_rpc_error(error, target=client.query.address)
                sys.stderr.write(f"rover: no map: {note}\n")
            else:
                out(render_grid(details))
    elif args.command == "submit":
        return run_submit(args, client.commands(), client.timeout, out)
    elif args.command == "result":
        return run_result(args, client.commands(), client.timeout, out)
    elif args.command == "show":
        request = query_pb2.GetGridDetailsRequest(grid_id=args.grid)
        out(render_grid(client.queries().GetGridDetails(request, timeout=client.timeout)))
    elif args.command == "grids":
        _list_grids(client, out)
    elif args.command == "watch":
        return _watch(args, client, out)
    elif args.command == "admin":
        return run_admin(args, client.admin(), client.timeout, out)
    return EXIT_OK


def _direct(args: argparse.Namespace, client: _Client) -> command_pb2.CommandResult:
    """Run ``grid create``, ``land`` or ``drive`` through its own RPC."""
    request = command_request(args, args.command, str(uuid.uuid4()))
    stub = client.commands()
    if isinstance(request, command_pb2.CreateGridRequest):
        return stub.CreateGrid(request, timeout=client.timeout)
    if isinstance(request, command_pb2.CreateRoverRequest):
        return stub.CreateRover(request, timeout=client.timeout)
    assert isinstance(request, command_pb2.ExecuteRoverCommandsRequest)
    return stub.ExecuteRoverCommands(request, timeout=client.timeout)


def _list_grids(client: _Client, out: Out) -> None:
    token, grids = "", list[query_pb2.GridSummary]()
    while True:
        page = client.queries().ListGrids(
            query_pb2.ListGridsRequest(page_size=200, page_token=token), timeout=client.timeout
        )
        grids += page.grids
        token = page.next_page_token
        if not token:
            break
    out(render_grid_list(grids))


def _watch(args: argparse.Namespace, client: _Client, out: Out) -> int:
    channel = open_channel(
        client.live.address, client.token, LIVE_CHANNEL_OPTIONS, client.credentials
    )
    stub = live_pb2_grpc.RoverLiveServiceStub(channel)
    tty = sys.stdout.isatty()
    labels: dict[str, str] = {}
    first = [True]
    printed: list[tuple[int | None, str] | None] = [None]

    def open_stream(from_version: int | None) -> UpdateStream:
        request = live_pb2.WatchGridRequest(grid_id=args.grid, from_version=from_version)
        stream: UpdateStream = stub.WatchGrid(request)
        return stream

    def wait_ready(seconds: float) -> bool:
        try:
            grpc.channel_ready_future(channel).result(timeout=seconds)
        except grpc.FutureTimeoutError:
            return False
        return True

    def show(state: common_pb2.GridDetails | None, line: str, note: str) -> None:
        footer = [f"last: {line or '(nothing yet)'}", *([note] if note else []), "(Ctrl-C to stop)"]
        if state is None:
            body = [f"{args.grid}: waiting for the grid's first events"]
        else:
            labels.update(rover_labels((r.rover_id for r in state.rovers), labels))
            size = shutil.get_terminal_size() if tty else None
            fit = (size.columns - 1, size.lines - len(footer)) if size else None
            body = render_grid(state, labels=labels, fit=fit).splitlines()
        if not tty:  # a log: a frame per change, a line per note
            shown = (state.version if state else None, line)
            out(note if shown == printed[0] else "\n".join(["", *body, *footer]))
            printed[0] = shown
            return
        columns = shutil.get_terminal_size().columns - 1
        lines = [text[:columns] for text in [*body, *footer]]
        home = "\x1b[H\x1b[2J" if first[0] else "\x1b[H"  # then redraw in place, no flicker
        first[0] = False
        sys.stdout.write(home + "\x1b[K\n".join(lines) + "\x1b[K\x1b[J")
        sys.stdout.flush()

    watch = Watch(open_stream, wait_ready, show, retry_for=args.retry_for)
    try:
        watch.run(args.from_version)
    except WatchGaveUpError as gave_up:
        again = "" if gave_up.last is None else f" --from-version {gave_up.last}"
        sys.stderr.write(
            f"\nrover: {gave_up} at {client.live.address}; gave up "
            f"(to go on: rover watch {args.grid}{again})\n"
        )
        return EXIT_UNREACHABLE
    finally:
        channel.close()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rover`` console script; returns the exit status."""
    try:
        settings = load_settings(CliSettings)
    except SettingsError as error:
        for line in str(error).splitlines():
            sys.stderr.write(f"rover: invalid setting {line}\n")
        return EXIT_USAGE
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(settings).parse_args(join_negative_values(words))
    try:
        client = _Client(args)
    except ValueError as error:  # an unreadable CA, certificate or key file
        sys.stderr.write(f"rover: {error}\n")
        return EXIT_USAGE

    def out(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    try:
        return _run(args, client, out)
    except grpc.RpcError as error:
        target = client.target_of(args.command)
        message = describe_rpc_error(error, target=target.address, setting=target.setting)
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            message += " (give a token: --token or ROVER_TOKEN)"
        elif client.credentials is None and "Socket closed" in (error.details() or ""):
            # what a plaintext client sees of a server that serves only TLS
            message += " (a service that serves TLS needs --ca-file or ROVER_TLS_CA_FILE)"
        sys.stderr.write(f"rover: {message}\n")
        return exit_code_for(error.code())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
