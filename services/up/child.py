"""What ``services.up`` knows of one child process (:class:`ChildSpec`) and of the whole run
(:class:`Plan`): plain data that plan.py builds, the supervisor runs and the banner prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from services.up.endpoints import Endpoint

__all__ = ["ChildSpec", "Plan"]

Probe = Literal["grpc", "redis", "http"]
"""How the supervisor asks a child whether it is ready."""


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
