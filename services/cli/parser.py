"""The ``rover`` command line: global options accepted anywhere, plain-text help with defaults."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from protos.rover.v1 import common_pb2
from services.cli.admin import add_admin_commands
from services.cli.settings import CliSettings
from services.cli.submit import add_command_words, add_result_options
from services.common.settings_text import settings_help

__all__ = ["build_parser", "join_negative_values", "parse_facing", "parse_position"]

DESCRIPTION = "rover: create grids, land and drive rovers, draw and watch them, from a terminal."
EXIT_CODES = """exit status:
  0    done (a blocked move is not an error)
  1    the service refused (the line says why)
  2    bad command line or ROVER_* value
  3    a service could not be reached (watch: the live service did not come back)
  4    admin audit found drift; admin parked replay left events parked
  5    result, submit --wait: the command has no outcome yet
  130  interrupted (Ctrl-C)"""

_FACINGS = {
    "N": common_pb2.DIRECTION_NORTH,
    "E": common_pb2.DIRECTION_EAST,
    "S": common_pb2.DIRECTION_SOUTH,
    "W": common_pb2.DIRECTION_WEST,
}
_NEGATIVE_VALUE = re.compile(r"^-\d+(\s*,\s*-?\d+)?$")


def parse_position(text: str) -> common_pb2.Position:
    """``"1,2"`` (or ``"-1,0"``) to a Position (argparse type)."""
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


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--at -1,0`` as ``--at=-1,0``: argparse would take ``-1,0`` for an option."""
    out: list[str] = []
    for token in argv:
        previous = out[-1] if out else ""
        if (
            _NEGATIVE_VALUE.match(token)
            and previous.startswith("--")
            and "=" not in previous
            and previous != "--"
        ):
            out[-1] = f"{previous}={token}"
        else:
            out.append(token)
    return out


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs keep their lines; wide enough for the option names."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _globals(settings: CliSettings, *, top: bool) -> argparse.ArgumentParser:
    """The global options; only the top parser has defaults, so a command's own never win."""
    shared = argparse.ArgumentParser(add_help=False)
    group = shared.add_argument_group("global options (before or after the command)")
    s = settings
    options: list[tuple[str, str, str, type, object]] = [
        ("--command-address", "HOST:PORT", "command service", str, s.command_address),
        ("--query-address", "HOST:PORT", "query service", str, s.query_address),
        ("--live-address", "HOST:PORT", "live service (watch)", str, s.broadcaster_address),
        ("--timeout", "SECONDS", "deadline of each call", float, s.cli_timeout_seconds),
        ("--ca-file", "PEM", "CA to trust: dial TLS (ROVER_TLS_CA_FILE)", str, s.tls_ca_file),
        ("--cert-file", "PEM", "client certificate, mutual TLS", str, s.tls_client_cert_file),
        ("--key-file", "PEM", "its private key", str, s.tls_client_key_file),
    ]
    for flag, metavar, text, kind, default in options:
        shown = f"{default:g}" if isinstance(default, float) else default or "none"
        group.add_argument(
            flag, metavar=metavar, help=f"{text} (default: {shown})", type=kind,
            default=default if top else argparse.SUPPRESS,
        )  # fmt: skip
    where = "from ROVER_TOKEN" if s.token else "none"
    group.add_argument(
        "--token", metavar="TOKEN", help=f"bearer token sent with every call (default: {where})",
        default=s.token if top else argparse.SUPPRESS,
    )  # fmt: skip
    return shared


def build_parser(settings: CliSettings) -> argparse.ArgumentParser:
    """The whole command line; defaults come from ``settings``."""
    epilog = f"{settings_help(CliSettings)}\n\n{EXIT_CODES}"
    shared = [_globals(settings, top=False)]

    def sub(
        group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
    ) -> argparse.ArgumentParser:
        return group.add_parser(
            name, help=text, description=text, parents=shared, epilog=epilog,
            formatter_class=_Formatter,
        )  # fmt: skip

    parser = argparse.ArgumentParser(
        prog="rover", description=DESCRIPTION, epilog=epilog,
        parents=[_globals(settings, top=True)], formatter_class=_Formatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_command_words(commands, sub, parse_position, parse_facing)
    submit = sub(
        commands, "submit", "queue grid create, land or drive on the command inbox; returns at once"
    )
    queued = submit.add_subparsers(dest="submitted_command", required=True, metavar="COMMAND")
    for words in add_command_words(queued, sub, parse_position, parse_facing):
        add_result_options(words, submit=True)
    result = sub(commands, "result", "the outcome of a submitted command")
    result.add_argument("request_id", metavar="REQUEST_ID", help="as rover submit printed it")
    add_result_options(result, submit=False)

    show = sub(commands, "show", "draw a grid as a map")
    show.add_argument("grid", help="grid id")
    sub(commands, "grids", "list the grids")
    watch = sub(commands, "watch", "redraw a grid live; resumes by itself (Ctrl-C to stop)")
    watch.add_argument("grid", help="grid id")
    watch.add_argument(
        "--from-version", type=int, default=None, metavar="N",
        help="replay the events after version N first (default: start from a snapshot)",
    )  # fmt: skip
    watch.add_argument(
        "--retry-for", type=float, default=settings.cli_watch_retry_seconds, metavar="SECONDS",
        help="after losing the live service, give up if it is not back within SECONDS "
        f"(default: {settings.cli_watch_retry_seconds:g})",
    )  # fmt: skip
    admin = sub(commands, "admin", "operator's toolbox: status, rebuild, audit, repair, parked")
    add_admin_commands(admin, sub)
    return parser
