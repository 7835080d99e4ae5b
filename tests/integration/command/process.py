"""Run ``python -m services.command`` as a child process (crash tests need SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["CommandProcess"]

_ROOT = Path(__file__).resolve().parents[3]


class CommandProcess:
    """The command service in a child process, on a free port, logging JSON to a file."""

    def __init__(self, eventstore_uri: str, **env: str) -> None:
        self._env = {
            **os.environ,
            "ROVER_COMMAND_ADDRESS": "127.0.0.1:0",
            "ROVER_EVENTSTORE_URI": eventstore_uri,
            "ROVER_LOG_FORMAT": "json",
            **env,
        }
        handle, name = tempfile.mkstemp(prefix="command-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> CommandProcess:
        """Start and wait for the listening record in the log."""
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "services.command"],
                cwd=_ROOT,
                env=self._env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_bytes().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == "command service listening":
                    self.port = int(record["port"])
                    return self
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"command service did not start:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no drain, no final checkpoint, nothing."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        if self._process is not None:
            self._process.wait(30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
