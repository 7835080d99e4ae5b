"""What ``services.up`` starts, in which order, with which arguments and ``ROVER_*`` variables.

Pure apart from looking up modules and the redis-server binary: the supervisor runs the plan.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from services.up.endpoints import Endpoint, parse_address
from services.up.settings import ENV_NAMES, UpSettings

__all__ = ["ChildSpec", "Endpoint", "Plan", "build_plan", "module_available", "parse_address"]

Probe = Literal["grpc", "redis"]

# (name, module, settings field holding its address, gRPC service it hosts), in start order.
SERVICES: tuple[tuple[str, str, str, str], ...] = (
    ("command", "services.command", "command_address", "rover.v1.RoverCommandService"),
    ("query", "services.query", "query_address", "rover.v1.RoverQueryService"),
    ("broadcaster", "services.broadcaster", "broadcaster_address", "rover.v1.RoverLiveService"),
)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One child process: how to start it, where it logs, how to tell it is ready."""

    name: str
    argv: tuple[str, ...]
    endpoint: Endpoint
    probe: Probe
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    grpc_service: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """The children in start order, and the services skipped because they do not exist yet."""

    children: tuple[ChildSpec, ...]
    skipped: tuple[str, ...]
    data_dir: Path
    log_dir: Path


def module_available(module: str) -> bool:
    """Whether ``python -m <module>`` would run (its ``__main__`` exists)."""
    try:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        return False


def child_env(settings: UpSettings, *, eventstore: Endpoint, redis: Endpoint) -> dict[str, str]:
    """``ROVER_*`` variables every service child gets: where the others are."""
    return {
        "ROVER_EVENTSTORE_URI": f"esdb://{eventstore.dial}?Tls=false",
        "ROVER_REDIS_URL": f"redis://{redis.dial}/0",
        ENV_NAMES["command_address"]: settings.command_address,
        ENV_NAMES["query_address"]: settings.query_address,
        ENV_NAMES["broadcaster_address"]: settings.broadcaster_address,
        "PYTHONUNBUFFERED": "1",
    }


def build_plan(
    settings: UpSettings,
    *,
    redis_server: str,
    python: str = sys.executable,
    available: Callable[[str], bool] = module_available,
) -> Plan:
    """Event store, Redis, then each service whose module exists, in that order."""
    data_dir = settings.data_dir.expanduser().resolve()
    log_dir = data_dir / "logs"
    eventstore = Endpoint(
        settings.eventstore_host, settings.eventstore_port, ENV_NAMES["eventstore_port"]
    )
    redis = Endpoint("127.0.0.1", settings.redis_port, ENV_NAMES["redis_port"])
    children = [
        ChildSpec(
            name="eventstore",
            argv=(
                python,
                "-m",
                "standins.eventstore",
                "--db",
                str(data_dir / "eventstore" / "rover.db"),
                "--host",
                eventstore.host,
                "--port",
                str(eventstore.port),
                "--log-format",
                "console",
            ),
            endpoint=eventstore,
            probe="grpc",
            log_path=log_dir / "eventstore.log",
            env={"PYTHONUNBUFFERED": "1"},
        ),
        ChildSpec(
            name="redis",
            argv=(
                redis_server,
                "--port",
                str(redis.port),
                "--bind",
                redis.host,
                "--dir",
                str(data_dir / "redis"),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ),
            endpoint=redis,
            probe="redis",
            log_path=log_dir / "redis.log",
        ),
    ]
    env = child_env(settings, eventstore=eventstore, redis=redis)
    skipped: list[str] = []
    for name, module, address_field, grpc_service in SERVICES:
        if not available(module):
            skipped.append(name)
            continue
        children.append(
            ChildSpec(
                name=name,
                argv=(python, "-m", module),
                endpoint=parse_address(getattr(settings, address_field), ENV_NAMES[address_field]),
                probe="grpc",
                log_path=log_dir / f"{name}.log",
                env=env,
                grpc_service=grpc_service,
            )
        )
    return Plan(tuple(children), tuple(skipped), data_dir, log_dir)
