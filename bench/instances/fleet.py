"""N processes of each service, each service's sharing one address (``ROVER_SHARE_PORT``).

Every process also listens on a unix socket of its own (``ROVER_INSTANCE_ADDRESS``), where
the fleet waits for it to report SERVING. Every instance runs as ``make run`` runs it: the
integration publisher and the projector each work on the one instance holding their lease.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.servers import wait_serving
from services.common.integration_key_settings import IntegrationKeySettings
from services.common.settings_text import env_name
from services.up.endpoints import Endpoint
from services.up.plan import child_env
from services.up.settings import UpSettings
from tests.support.redis_server import free_port

__all__ = ["SERVICES", "Fleet", "Instance"]

SERVICES = ("command", "query", "broadcaster")
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Instance:
    """One process of a service: its label (``query-2``), own address and log."""

    service: str
    label: str
    address: str
    process: subprocess.Popen[bytes]
    log: Path


class Fleet:
    """``count`` instances of every service, started with :meth:`start`, ended by :meth:`stop`."""

    def __init__(self, count: int, *, store_port: int, redis_port: int, folder: Path) -> None:
        self.count = count
        self.folder = folder
        self.ports = {service: free_port() for service in SERVICES}
        addresses = UpSettings(
            command_address=self.address("command"),
            query_address=self.address("query"),
            broadcaster_address=self.address("broadcaster"),
        )
        self._env = os.environ | child_env(
            addresses,
            eventstore=Endpoint("127.0.0.1", store_port, "eventstore"),
            redis=Endpoint("127.0.0.1", redis_port, "redis"),
            data_dir=folder,
        )
        # unsigned: the broadcaster parties append integration events straight to the store
        del self._env[env_name(IntegrationKeySettings, "integration_key_file")]
        self.instances: list[Instance] = []

    def address(self, service: str) -> str:
        """The address the service's instances share."""
        return f"127.0.0.1:{self.ports[service]}"

    def pids(self, service: str | None = None) -> dict[str, int]:
        """label -> process id, of one service's instances or of all."""
        return {
            i.label: i.process.pid
            for i in self.instances
            if service is None or i.service == service
        }

    def _spawn(self, service: str, index: int) -> Instance:
        label = f"{service}-{index}"
        env = self._env | {
            "ROVER_SHARE_PORT": "true",
            "ROVER_INSTANCE_ADDRESS": f"unix:{self.folder}/{label}.sock",
            "ROVER_LOG_LEVEL": "WARNING",
            "ROVER_LOG_FORMAT": "json",
            "ROVER_SHUTDOWN_GRACE_SECONDS": "1",
            "ROVER_BROADCASTER_HEARTBEAT_SECONDS": "60",
        }
        log = self.folder / f"{label}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                cwd=_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        return Instance(service, label, env["ROVER_INSTANCE_ADDRESS"], process, log)

    async def start(self) -> None:
        """Start every instance; return once each reports SERVING on its own address."""
        for service in SERVICES:
            for index in range(1, self.count + 1):
                self.instances.append(self._spawn(service, index))
        for instance in self.instances:
            try:
                await wait_serving(instance.address, instance.process, instance.label)
            except RuntimeError as error:
                tail = instance.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{error}; the end of its log:\n{tail}") from None

    def stop(self) -> None:
        """SIGTERM every instance, wait for them (SIGKILL after 15 s)."""
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in self.instances:
            try:
                instance.process.wait(15)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    instance.process.wait(5)
        self.instances.clear()
