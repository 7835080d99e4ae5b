"""docker-compose.yml as the static compose tests read it (Docker cannot run here).

The file, its services, and the few rules of Compose's own syntax the tests need: port entries,
volume entries and ``${VAR:-default}`` interpolation.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from services.common.settings import ServiceSettings

__all__ = [
    "COMPOSE",
    "OURS",
    "PINNED",
    "ROOT",
    "SERVICES",
    "bind_mounts",
    "env_names",
    "interpolate",
    "module",
    "published",
    "settings_class",
]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# An exact version; some official images tag theirs with a leading v (prom/prometheus:v2.55.1).
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+[\w.-]*$")
OURS = {name: s for name, s in SERVICES.items() if "build" in s}
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def settings_class(module_name: str) -> type[ServiceSettings]:
    """The one ServiceSettings subclass ``<module_name>.settings`` defines."""
    settings = importlib.import_module(f"{module_name}.settings")
    classes = [
        value
        for value in vars(settings).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
        and value.__module__ == settings.__name__
    ]
    assert len(classes) == 1, f"{module_name}.settings should define one settings class"
    return classes[0]


def env_names(cls: type[ServiceSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in cls.model_fields}


def module(service: dict[str, Any]) -> str:
    """The Python module one of our services runs (``python -m <module>``)."""
    command = service["command"]
    assert command[:3] == ["python", "-m", command[2]]
    return str(command[2])


def published(entry: str | dict[str, Any]) -> str:
    """The host port an entry of ``ports`` publishes; '' when Docker picks a free one."""
    if isinstance(entry, dict):
        return str(entry.get("published") or "")
    parts = str(entry).split(":")  # [[host_ip:]host_port:]container_port
    return parts[-2] if len(parts) >= 2 else ""


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of each bind mount (a named volume is not one)."""
    mounts: dict[str, Path] = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                mounts[str(entry["target"])] = ROOT / str(entry["source"])
            continue
        source, target = str(entry).split(":")[:2]
        if source.startswith((".", "/", "~")):
            mounts[target] = ROOT / source
    return mounts


def interpolate(value: str, environment: Mapping[str, str]) -> str:
    """``value`` as Compose passes it on: each ``${VAR:-default}`` from ``environment``."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        return environment.get(name) or (default or "")

    return _VARIABLE.sub(one, value)
