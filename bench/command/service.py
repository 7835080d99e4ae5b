"""The command service under measurement: ``python -m services.command`` in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["Service"]

_ROOT = Path(__file__).resolve().parents[2]


class Service:
    """``python -m services.command`` in a child process."""

    def __init__(self, uri: str, request_window: int = 1_000) -> None:
        handle, name = tempfile.mkstemp(prefix="bench-command-", suffix=".log")
        os.close(handle)
        self.log = Path(name)
        env = {
            **os.environ,
            "ROVER_COMMAND_ADDRESS": "127.0.0.1:0",
            "ROVER_EVENTSTORE_URI": uri,
            "ROVER_LOG_FORMAT": "json",
            "ROVER_LOG_LEVEL": "INFO",  # the listening record is at INFO
            "ROVER_COMMAND_REQUEST_WINDOW": str(request_window),
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.command"],
                cwd=_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        self.port = self._wait_port()

    def _wait_port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in self.log.read_bytes().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == "command service listening":
                    return int(record["port"])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"command service did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
