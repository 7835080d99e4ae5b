"""What ``services.up`` starts, in which order, with which arguments and ``ROVER_*`` variables.

Pure apart from looking up modules and the redis-server binary: the supervisor runs the plan.
A service set to run several instances (``ROVER_COMMAND_INSTANCES`` ...) gets one child per
instance, ``command-1`` to ``command-N``: all listen on the service's address
(``ROVER_SHARE_PORT``), and each also on an address of its own (``ROVER_INSTANCE_ADDRESS``),
where the supervisor asks it whether it is ready.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from services.common.integration_key_settings import IntegrationKeySettings
from services.common.settings import ServerSettings
from services.common.settings_text import env_name
from services.up.child import ChildSpec, Plan
from services.up.endpoints import Endpoint, parse_address
from services.up.instances import instance_address, instance_endpoint, instance_metrics
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

# (name, module, settings field holding its address, gRPC service it hosts), in start order;
# each service's instance count is the settings field ``<name>_instances``.
SERVICES: tuple[tuple[str, str, str, str], ...] = (
    ("command", "services.command", "command_address", "rover.v1.RoverCommandService"),
    ("query", "services.query", "query_address", "rover.v1.RoverQueryService"),
    ("broadcaster", "services.broadcaster", "broadcaster_address", "rover.v1.RoverLiveService"),
)

_SHARE_PORT = env_name(ServerSettings, "share_port")
_INSTANCE_ADDRESS = env_name(ServerSettings, "instance_address")


def module_available(module: str) -> bool:
    """Whether ``python -m <module>`` would run (its ``__main__`` exists)."""
    try:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        return False


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
