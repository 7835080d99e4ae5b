"""The text people read when the system is up: endpoints, logs, and a first command to try."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from services.up.plan import Plan

__all__ = ["grpcurl_command", "render_banner"]


def grpcurl_command() -> str:
    """How to call grpcurl here: on PATH, else the venv's, relative to cwd when possible."""
    if shutil.which("grpcurl"):
        return "grpcurl"
    venv_binary = Path(sys.executable).parent / "grpcurl"
    try:
        return str(venv_binary.relative_to(Path.cwd()))
    except ValueError:
        return str(venv_binary)


def render_banner(plan: Plan, grpcurl: str = "grpcurl") -> str:
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
        lines.append(
            f'  {grpcurl} -plaintext -d \'{{"grid_id": "mars", "width": 5, "height": 5}}\' '
            f"{command.endpoint.dial} rover.v1.RoverCommandService/CreateGrid"
        )
    else:
        store = services["eventstore"]
        lines.append(f"  {grpcurl} -plaintext {store.endpoint.dial} list")
    if query is not None:
        lines.append(f"  rover grids --query-address {query.endpoint.dial}")
    lines += ["", "The tour: docs/tour.md. Ctrl-C stops everything.", ""]
    return "\n".join(lines)
