"""``python -m services.up`` started as a user would, on free ports in a temporary data folder."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench import METRICS_OFF

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = Path(sys.executable).parent / "grpcurl"
START_ORDER = ["eventstore", "redis", "command", "query", "broadcaster", "web"]

__all__ = ["GRPCURL", "ROOT", "START_ORDER", "System", "established", "free_port"]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def established(pid: int, port: int) -> int:
    """TCP connections ``pid`` holds that were accepted on ``port`` (how the kernel spread
    the clients' connections over the instances sharing it)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
                count += 1
    return count


class System:
    """``python -m services.up`` on free ports in a temporary data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.ports = {
            name: free_port() for name in ("store", "redis", "cmd", "query", "live", "web")
        }
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ROVER_")}
        self.env.update(
            ROVER_DATA_DIR=str(data_dir),
            ROVER_EVENTSTORE_PORT=str(self.ports["store"]),
            ROVER_REDIS_PORT=str(self.ports["redis"]),
            ROVER_COMMAND_ADDRESS=f"127.0.0.1:{self.ports['cmd']}",
            ROVER_QUERY_ADDRESS=f"127.0.0.1:{self.ports['query']}",
            ROVER_BROADCASTER_ADDRESS=f"127.0.0.1:{self.ports['live']}",
            ROVER_WEB_ADDRESS=f"127.0.0.1:{self.ports['web']}",
            ROVER_LOG_FORMAT="json",
        )
        # No fixed metrics ports (several systems run at once); tests/e2e/test_metrics.py
        # gives them free ones.
        self.env.update(METRICS_OFF)
        self.logs = data_dir.parent
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self, timeout: float = 120.0) -> None:
        self.runs += 1
        self.out = self.logs / f"up-{self.runs}.out"
        self.err = self.logs / f"up-{self.runs}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.up"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while "Mars Rover is up" not in self.out.read_text():
            code = self.process.poll()
            assert code is None, f"services.up exited {code}:\n{self.err.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"not up in {timeout}s:\n{self.err.read_text()}"
            time.sleep(0.2)

    def pids(self) -> dict[str, int]:
        """Each child's pid, the last it was started with (services.up's JSON records)."""
        pids: dict[str, int] = {}
        for line in self.err.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "child started":
                    pids[record["child"]] = int(record["pid"])
        return pids

    def stop(self) -> tuple[int, list[str]]:
        """SIGTERM; the exit status and the children in the order they were stopped."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=120)
        self.process = None
        stopped = []
        for line in self.err.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "child stopped":
                    stopped.append(record["child"])
        return code, stopped

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def argv(self, command: str) -> list[str]:
        """A tour command as argv here: our ports, the venv's grpcurl, the CLI module."""
        swaps = {"50051": "cmd", "50052": "query", "50053": "live"}
        for default, name in swaps.items():
            command = command.replace(f"localhost:{default}", f"localhost:{self.ports[name]}")
        words = shlex.split(command)
        if words[0] == ".venv/bin/grpcurl":
            return [str(GRPCURL), *words[1:]]
        if words[0] == ".venv/bin/rover":
            return [sys.executable, "-m", "services.cli", *words[1:]]
        raise AssertionError(f"the tour runs only grpcurl and rover, not {words[0]}")

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
