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

from services.common.integration_key_settings import IntegrationKeySettings
from services.common.settings import ServerSettings
from services.common.settings_text import env_name
from services.up.endpoints import Endpoint, parse_address
from services.up.integration_key import integration_key_path
from services.up.secure import SecureRun
from services.up.settings import ENV_NAMES, UpSettings

__all__ = [
    "ChildSpec",
    "Endpoint",
    "Plan",
    "build_plan",
    "instance_address",
    "instance_metrics",
    "module_available",
    "parse_address",
]

Probe = Literal["grpc", "redis", "http"]

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
    metrics: Endpoint | None = None
    """Where it serves Prometheus /metrics (None: nowhere)."""
    ca_file: str = ""
    """The CA its TLS certificate is signed by ('': it serves plaintext)."""
    client_cert: tuple[str, str] | None = None
    """(certificate, key) the probe presents, for a server that asks for one (mutual TLS)."""

    @property
    def metrics_url(self) -> str:
        """``http://host:port/metrics``, or '' when it serves none."""
        return f"http://{self.metrics.dial}/metrics" if self.metrics is not None else ""

    @property
    def group(self) -> str:
        """The service's name: children of one group share its address."""
        return self.service or self.name

    @property
    def probe_address(self) -> str:
        """Where the supervisor asks whether this child is ready."""
        return self.instance_address or self.endpoint.dial

    @property
    def probe_ca_file(self) -> str:
        """The CA to trust at :attr:`probe_address` ('': plaintext; an instance's own
        address is a local socket without TLS)."""
        return "" if self.instance_address else self.ca_file


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


# Instance i of a service with several serves its metrics at the base port + 100 * i.
INSTANCE_METRICS_STEP = 100


def instance_metrics(base: Endpoint | None, number: int) -> Endpoint | None:
    """The metrics endpoint of instance ``number`` (1-based) of a service whose metrics
    setting says ``base`` (ValueError naming the setting when the port would pass 65535)."""
    return None if base is None else instance_endpoint(base, number)


def instance_endpoint(base: Endpoint, number: int) -> Endpoint:
    """Instance ``number`` (1-based) of ``base``: its port + 100 * number (ValueError naming
    the setting when the port would pass 65535)."""
    port = base.port + INSTANCE_METRICS_STEP * number
    if port > 65535:
        raise ValueError(
            f"{base.setting}: instance {number} would listen on port {port}; choose a lower port"
        )
    return Endpoint(base.host, port, base.setting)


def _metrics_endpoint(settings: UpSettings, name: str) -> Endpoint | None:
    field_name = f"{name}_metrics_address"
    value: str = getattr(settings, field_name)
    return parse_address(value, ENV_NAMES[field_name]) if value else None


def _metrics_env(name: str, metrics: Endpoint | None) -> dict[str, str]:
    """The child's own metrics address variable (the same name as the supervisor's base)."""
    address = f"{metrics.host}:{metrics.port}" if metrics is not None else ""
    return {ENV_NAMES[f"{name}_metrics_address"]: address}


def child_env(
    settings: UpSettings,
    *,
    eventstore: Endpoint,
    redis: Endpoint,
    data_dir: Path,
    secure: SecureRun | None = None,
) -> dict[str, str]:
    """``ROVER_*`` variables every service child gets: where the others are, the key file that
    signs and verifies their integration events (and with ``secure``, the store's user and
    TLS, and the services' own TLS)."""
    if secure is not None:
        return {
            **child_env(settings, eventstore=eventstore, redis=redis, data_dir=data_dir),
            "ROVER_EVENTSTORE_URI": secure.store_uri(eventstore.dial),
            **secure.service_env(),
        }
    return {
        env_name(IntegrationKeySettings, "integration_key_file"): str(
            integration_key_path(data_dir)
        ),
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
    secure: SecureRun | None = None,
) -> Plan:
    """Event store, Redis, then each service whose module exists, in that order (over TLS,
    with users on the store, when ``secure``: services/up/secure.py)."""
    ca_file = str(secure.certs.ca) if secure is not None else ""
    client = (str(secure.certs.client), str(secure.certs.client_key)) if secure else None
    data_dir = settings.data_dir.expanduser().resolve()
    log_dir = data_dir / "logs"
    eventstore = Endpoint(
        settings.eventstore_host, settings.eventstore_port, ENV_NAMES["eventstore_port"]
    )
    redis = Endpoint("127.0.0.1", settings.redis_port, ENV_NAMES["redis_port"])
    store_metrics = _metrics_endpoint(settings, "eventstore")
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
                "--metrics-address",
                settings.eventstore_metrics_address,
                *(secure.store_args() if secure is not None else ()),
            ),
            endpoint=eventstore,
            probe="grpc",
            log_path=log_dir / "eventstore.log",
            env={"PYTHONUNBUFFERED": "1", **(secure.store_env() if secure is not None else {})},
            metrics=store_metrics,
            ca_file=ca_file,
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
    env = child_env(settings, eventstore=eventstore, redis=redis, data_dir=data_dir, secure=secure)
    skipped: list[str] = []
    for name, module, address_field, grpc_service in SERVICES:
        if not available(module):
            skipped.append(name)
            continue
        endpoint = parse_address(getattr(settings, address_field), ENV_NAMES[address_field])
        count: int = getattr(settings, f"{name}_instances")
        metrics = _metrics_endpoint(settings, name)
        if count == 1:  # as before instances existed: one child named after its service
            children.append(
                ChildSpec(
                    name=name,
                    argv=(python, "-m", module),
                    endpoint=endpoint,
                    probe="grpc",
                    log_path=log_dir / f"{name}.log",
                    env={**env, **_metrics_env(name, metrics)},
                    grpc_service=grpc_service,
                    service=name,
                    metrics=metrics,
                    ca_file=ca_file,
                    client_cert=client,
                )
            )
            continue
        for number in range(1, count + 1):
            instance = f"{name}-{number}"
            own = instance_address(data_dir, instance)
            own_metrics = instance_metrics(metrics, number)
            children.append(
                ChildSpec(
                    name=instance,
                    argv=(python, "-m", module),
                    endpoint=endpoint,
                    probe="grpc",
                    log_path=log_dir / f"{instance}.log",
                    env={
                        **env,
                        _SHARE_PORT: "true",
                        _INSTANCE_ADDRESS: own,
                        **_metrics_env(name, own_metrics),
                    },
                    grpc_service=grpc_service,
                    service=name,
                    instance_address=own,
                    restart=True,
                    metrics=own_metrics,
                    ca_file=ca_file,
                    client_cert=client,
                )
            )
    if available(WEB_MODULE):
        web_env = {**env, **(secure.web_env() if secure is not None else {})}
        children += web_children(settings, web_env, python=python, log_dir=log_dir, ca_file=ca_file)
    else:
        skipped.append("web")
    return Plan(tuple(children), tuple(skipped), data_dir, log_dir)


WEB_MODULE = "services.web"


def web_children(
    settings: UpSettings,
    env: Mapping[str, str],
    *,
    python: str,
    log_dir: Path,
    ca_file: str = "",
) -> list[ChildSpec]:
    """The web front-end: one child, or ``web-1`` .. ``web-N``, instance i at the address's
    port + 100 * i (like the metrics ports); each is ready when ``/readyz`` answers 200 (over
    HTTPS trusting ``ca_file`` when given: its certificate is signed by that CA)."""
    base = parse_address(settings.web_address, ENV_NAMES["web_address"])
    count = settings.web_instances
    metrics = _metrics_endpoint(settings, WEB)
    numbered = (
        [(WEB, base, metrics)]
        if count == 1
        else [
            (f"{WEB}-{n}", instance_endpoint(base, n), instance_metrics(metrics, n))
            for n in range(1, count + 1)
        ]
    )
    return [
        ChildSpec(
            name=name,
            argv=(python, "-m", WEB_MODULE),
            endpoint=endpoint,
            probe="http",
            log_path=log_dir / f"{name}.log",
            env={
                **env,
                ENV_NAMES["web_address"]: f"{endpoint.host}:{endpoint.port}",
                **_metrics_env(WEB, own_metrics),
            },
            service=WEB,
            restart=count > 1,
            metrics=own_metrics,
            ca_file=ca_file,
        )
        for name, endpoint, own_metrics in numbered
    ]


WEB = "web"
