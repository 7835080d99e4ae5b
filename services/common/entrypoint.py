"""Command lines of our programs: ``--help`` lists the ROVER_* settings; bad settings exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic_settings import BaseSettings

from services.common.settings_text import SettingsError, load_settings, settings_help
from services.common.tracing_setup import TracingSettingsError, configure_tracing

__all__ = ["parse_command_line", "start_tracing"]

S = TypeVar("S", bound=BaseSettings)

# argparse's own status for a bad command line; a bad ROVER_* value is the same kind of mistake.
BAD_SETTINGS_STATUS = 2


def parse_command_line(
    prog: str,
    description: str,
    settings_class: type[S],
    argv: Sequence[str] | None = None,
    *,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[argparse.Namespace, S]:
    """Parse ``argv`` and load the settings, before anything binds or connects.

    ``--help`` prints the usage, the description and every ROVER_* variable with its default,
    then exits 0. A bad ROVER_* value exits 2 with one line per bad variable, no traceback.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=settings_help(settings_class),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(settings_class)
    except SettingsError as error:
        for line in str(error).splitlines():
            sys.stderr.write(f"{prog}: invalid setting {line}\n")
        raise SystemExit(BAD_SETTINGS_STATUS) from None
    return args, settings


def start_tracing(prog: str, service: str) -> bool:
    """Tracing as the ``OTEL_*`` variables ask (off without ``OTEL_TRACES_EXPORTER``); whether
    on. An exporter that is not installed is a bad setting like any other: exit 2, one line."""
    try:
        return configure_tracing(service)
    except TracingSettingsError as error:
        sys.stderr.write(f"{prog}: invalid setting {error}\n")
        raise SystemExit(BAD_SETTINGS_STATUS) from None
