"""Run the event store as a child process (tests: session servers, kill -9 crash tests).

``EventStoreProcess(db_path=None)`` starts ``python -m standins.eventstore`` on a free port
(``--memory`` when ``db_path`` is None), waits for its ``listening`` log line and exposes
``uri``/``port``. ``kill()`` sends SIGKILL, ``terminate()`` SIGTERM (graceful), ``restart()``
starts it again on the same port and database. The server's logs go to ``log_path``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["EventStoreProcess"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


class EventStoreProcess:
    """A ``python -m standins.eventstore`` child process."""

    def __init__(
        self, db_path: str | None = None, *, port: int = 0, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.db_path = db_path
        self.port = port
        self.extra_args = extra_args
        handle, name = tempfile.mkstemp(prefix="eventstore-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """An esdbclient connection string for the running server."""
        return f"esdb://127.0.0.1:{self.port}?Tls=false"

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._process is not None, "not started"
        return self._process.pid

    def start(self, timeout: float = 30.0) -> EventStoreProcess:
        """Start the child and wait until it listens; raise with its log if it does not."""
        store = ["--memory"] if self.db_path is None else ["--db", self.db_path]
        command = [
            sys.executable,
            "-m",
            "standins.eventstore",
            *store,
            "--port",
            str(self.port),
            "--log-format",
            "json",
            *self.extra_args,
        ]
        offset = self.log_path.stat().st_size
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                command, cwd=_REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self._listening_port(offset)
            if port is not None:
                self.port = port
                return self
            if self._process.poll() is not None:
                break
            time.sleep(0.02)
        output = self.log_path.read_text(errors="replace")[offset:]
        self.kill()
        raise RuntimeError(f"event store process did not start:\n{output}")

    def _listening_port(self, offset: int) -> int | None:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            for line in log:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("event") == "listening":
                    return int(record["port"])
        return None

    def kill(self) -> None:
        """SIGKILL the child (no shutdown at all) and reap it."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        self._wait()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM the child (graceful stop) and return its exit status."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        return self._wait(timeout)

    def restart(self) -> EventStoreProcess:
        """Start again on the same port and database (after ``kill`` or ``terminate``)."""
        self._wait()
        return self.start()

    def _wait(self, timeout: float = 30.0) -> int:
        if self._process is None:
            return 0
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def close(self) -> None:
        """Stop the child and delete its log."""
        self.terminate()
        self._process = None
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> EventStoreProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
