"""The text people read when the system is up: endpoints, logs, and a first command to try."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from services.up.plan import Plan
from services.up.settings import UpSettings

__all__ = ["grpcurl_command", "render_banner", "venv_command"]

# Where the CLI dials the query service when not told otherwise: the CLI's default is the
# services' default (tests/unit/up/test_banner.py holds them equal).
_CLI_QUERY_DEFAULT = str(UpSettings.model_fields["query_address"].default)


def venv_command(name: str) -> str:
    """How to call one of the venv's programs from here: its bare name when PATH finds this
    venv's (not another program of that name), else its path (relative to the current folder
    when below it), so a printed hint works as printed."""
    venv_binary = Path(sys.executable).parent / name
    on_path = shutil.which(name)
    if on_path and Path(on_path).resolve() == venv_binary.resolve():
        return name  # the venv is active: the bare name is ours
    try:
        return str(venv_binary.relative_to(Path.cwd()))
    except ValueError:
        return str(venv_binary)


def grpcurl_command() -> str:
    """How to call grpcurl here."""
    return venv_command("grpcurl")


def render_banner(plan: Plan, grpcurl: str = "grpcurl", rover: str = "rover") -> str:
    """The startup banner for ``plan``, whose children are all ready."""
    lines = ["", f"Mars Rover is up. Data: {plan.data_dir}", ""]
    for child in plan.children:
        if child.name == "eventstore":
            where = f"esdb://{child.endpoint.dial}?tls=false"
        elif child.name == "redis":
            where = f"redis://{child.endpoint.dial}/0"
        else:
            where = f"{child.endpoint.dial}  {child.grpc_service}"
        lines.append(f"  {child.name:<12} {where}")
        lines.append(f"  {'':<12} log: {child.log_path}")
    for name in plan.skipped:
        lines.append(f"  {name:<12} skipped: services/{name} has no __main__ yet")
    services = {c.name: c for c in plan.children}
    lines += ["", "Try:"]
    command = services.get("command")
    query = services.get("query")
    if command is not None:
        lines.append(f"  {grpcurl} -plaintext {command.endpoint.dial} list")
        # Read-only hints: whatever a newcomer tries first must not change what the tour shows.
        lines.append(
            f"  {grpcurl} -plaintext {command.endpoint.dial} describe rover.v1.RoverCommandService"
        )
    else:
        store = services["eventstore"]
        lines.append(f"  {grpcurl} -plaintext {store.endpoint.dial} list")
    if query is not None:
        where = (
            ""
            if query.endpoint.dial == _CLI_QUERY_DEFAULT
            else f" --query-address {query.endpoint.dial}"
        )
        lines.append(f"  {rover}{where} grids")
    lines += [
        "",
        "`make shell` opens a shell with rover and grpcurl on PATH.",
        "The tour: docs/tour.md. Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)
