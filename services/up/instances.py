"""Where each instance of a service run several times listens of its own (besides the address
they share): a unix socket under the data folder for gRPC, the base port + 100 * i for the web
front-end and every metrics endpoint."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from services.up.endpoints import Endpoint

__all__ = ["instance_address", "instance_endpoint", "instance_metrics"]

SUN_PATH_MAX = 107
"""Longest unix socket path Linux takes (``sun_path`` is 108 bytes with its final NUL)."""


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
