"""The services under measurement: each in a child process, tracing off or on (100%)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from bench import METRICS_OFF
from bench.tracing.child import SPANS_LINE

__all__ = ["Child"]

_ROOT = Path(__file__).resolve().parents[2]
_SPANS = re.compile(re.escape(SPANS_LINE).replace(r"\{\}", r"(\d+)"))


class Child:
    """``python -m bench.tracing.child SERVICE [--sampled S]`` listening on a port of its own.

    No ``OTEL_*`` variable reaches it: tracing is off (``sampled`` None), or on exactly as
    ``--sampled`` sets it.
    """

    def __init__(self, service: str, *, sampled: float | None, env: Mapping[str, str]) -> None:
        self.service = service
        self.sampled = sampled
        handle, name = tempfile.mkstemp(prefix=f"bench-tracing-{service}-", suffix=".log")
        os.close(handle)
        self.log = Path(name)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROVER_"))}
        argv = [sys.executable, "-m", "bench.tracing.child", service]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv if sampled is None else [*argv, "--sampled", str(sampled)],
                cwd=_ROOT,
                env={
                    **clean,
                    **METRICS_OFF,
                    "ROVER_LOG_FORMAT": "json",
                    "ROVER_LOG_LEVEL": "INFO",
                    **env,
                },
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
                if record.get("event") == f"{self.service} service listening":
                    return int(record["port"])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.service} did not start:\n{self.log.read_text()}")

    def stop(self) -> int:
        """Stop it gracefully (kill it after a minute); the spans it exported (0 untraced)."""
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise RuntimeError(f"{self.service} did not stop within 60 s") from None
        text = self.log.read_text()
        self.log.unlink()
        found = _SPANS.search(text)
        if self.sampled is not None and found is None:
            raise RuntimeError(f"{self.service} reported no spans:\n{text[-2000:]}")
        return int(found.group(1)) if found else 0
