"""What ``services.up`` starts, in which order, with which arguments and ``ROVER_*`` variables.

Pure apart from looking up modules and the redis-server binary: the supervisor runs the plan.
A service set to run several instances (``ROVER_COMMAND_INSTANCES`` ...) gets one child per
instance, ``command-1`` to ``command-N``: all listen on the service's address
(``ROVER_SHARE_PORT``), and each also on an address of its own (``ROVER_INSTANCE_ADDRESS``),
where the supervisor asks it whether it is ready.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from services.common.settings import ServerSettings
from services.common.settings_text import env_name
from services.up.endpoints import Endpoint, parse_address
from services.up.settings import ENV_NAMES, UpSettings

__all__ = [
    "ChildSpec",
    "Endpoint",
    "Plan",
    "build_plan",
    "instance_address",
    "module_available",
    "parse_address",
]

Probe = Literal["grpc", "redis"]

# (name, module, settings field holding its address, gRPC service it hosts), in start order;
# each service's instance count is the settings field ``<name>_instances``.
SERVICES: tuple[tuple[str, str, str, str], ...] = (
    ("command", "services.command", "command_address", "rover.v1.RoverCommandService"),
    ("query", "services.query", "query_address", "rover.v1.RoverQueryService"),
    ("broadcaster", "services.broadcaster", "broadcaster_address", "rover.v1.RoverLiveService"),
)

_SHARE_PORT = env_name(ServerSettings, "share_port")
_INSTANCE_ADDRESS = env_name(ServerSettings, "instance_address")

SUN_PATH_MAX = 107
"""Longest unix socket path Linux takes (``sun_path`` is 108 bytes with its final NUL)."""


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
    service: str = ""
    """The service this child is an instance of ('': the child is a service of its own)."""
    instance_address: str = ""
    """Where only this child listens (gRPC target); readiness is asked there when set."""
    restart: bool = False
    """Start it again when it dies on its own (one of several instances); else all stop."""

    @property
    def group(self) -> str:
        """The service's name: children of one group share its address."""
        return self.service or self.name

    @property
    def probe_address(self) -> str:
        """Where the supervisor asks whether this child is ready."""
        return self.instance_address or self.endpoint.dial


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


def instance_address(data_dir: Path, name: str, *, platform: str = sys.platform) -> str:
    """The gRPC address only instance ``name`` listens on: a unix socket under the data
    folder, or on Linux, when that path is too long for a socket, an abstract socket named
    after the folder (no file; unique per data folder, which one ``make run`` owns)."""
    path = data_dir / "run" / f"{name}.sock"
    if len(os.fsencode(path)) <= SUN_PATH_MAX or platform != "linux":
        return f"unix:{path}"
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    return f"unix-abstract:rover-{digest}-{name}"


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
        endpoint = parse_address(getattr(settings, address_field), ENV_NAMES[address_field])
        count: int = getattr(settings, f"{name}_instances")
        if count == 1:  # as before instances existed: one child named after its service
            children.append(
                ChildSpec(
                    name=name,
                    argv=(python, "-m", module),
                    endpoint=endpoint,
                    probe="grpc",
                    log_path=log_dir / f"{name}.log",
                    env=env,
                    grpc_service=grpc_service,
                    service=name,
                )
            )
            continue
        for number in range(1, count + 1):
            instance = f"{name}-{number}"
            own = instance_address(data_dir, instance)
            children.append(
                ChildSpec(
                    name=instance,
                    argv=(python, "-m", module),
                    endpoint=endpoint,
                    probe="grpc",
                    log_path=log_dir / f"{instance}.log",
                    env={**env, _SHARE_PORT: "true", _INSTANCE_ADDRESS: own},
                    grpc_service=grpc_service,
                    service=name,
                    instance_address=own,
                    restart=True,
                )
            )
    return Plan(tuple(children), tuple(skipped), data_dir, log_dir)
