"""Fixtures for the supervisor's tests: free ports and stand-in children."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from services.up.plan import ChildSpec, Endpoint

STANDIN = Path(__file__).with_name("standin.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """Where stand-ins write their name when they receive SIGTERM, in order."""
    return tmp_path / "terminated.txt"


@pytest.fixture
def standin(tmp_path: Path, record: Path) -> Callable[..., ChildSpec]:
    """Build a ChildSpec that runs the stand-in gRPC health server with the given flags."""

    def build(name: str, *flags: str) -> ChildSpec:
        port = free_port()
        return ChildSpec(
            name=name,
            argv=(
                sys.executable,
                str(STANDIN),
                "--name",
                name,
                "--port",
                str(port),
                "--record",
                str(record),
                *flags,
            ),
            endpoint=Endpoint("127.0.0.1", port, f"ROVER_{name.upper()}_ADDRESS"),
            probe="grpc",
            log_path=tmp_path / "logs" / f"{name}.log",
        )

    return build
