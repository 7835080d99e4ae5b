"""A Redis Sentinel group for tests: a master, a replica and three sentinels watching them.

``with SentinelGroup() as group: group.url`` is the ``redis+sentinel://`` URL the query service
takes (services/query/adapters/redis_connect.py). ``group.kill_master()`` crashes the master;
the sentinels then promote the replica (``down_after_ms`` later, about a second in all).
``freeze_replica`` before it makes the replica miss the writes that follow (what
asynchronous replication loses in a failover), deterministically.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Self

from redis import Redis as SyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support.redis_server import RedisServer, ServerGroup

__all__ = ["MASTER_NAME", "SentinelGroup"]

MASTER_NAME = "rovermaster"


class SentinelGroup(ServerGroup):
    """One master, one replica of it, three sentinels (quorum 2): all child processes."""

    def __init__(self, *, down_after_ms: int = 400) -> None:
        self.master = RedisServer()
        self.replica: RedisServer | None = None
        self.sentinels: list[RedisServer] = []
        self._down_after_ms = down_after_ms

    def servers(self) -> list[RedisServer]:
        return [*self.sentinels, *([self.replica] if self.replica else []), self.master]

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:<s1>,127.0.0.1:<s2>,127.0.0.1:<s3>/<master name>``."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}"

    def start(self) -> Self:
        """Start the master, its replica (in sync once this returns), then the sentinels."""
        self.master.start()
        self.replica = RedisServer(
            args=(
                "--replicaof",
                "127.0.0.1",
                str(self.master.port),
                "--repl-diskless-sync-delay",
                "0",
            )
        ).start()
        self._wait(lambda: self._linked(self.replica), "the replica to sync")
        monitor = [
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self._down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} 3000",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]
        for _ in range(3):
            self.sentinels.append(RedisServer(args=("--sentinel",), config=monitor).start())
        self._wait(self._sentinels_ready, "the sentinels to know each other and the replica")
        return self

    def master_port(self) -> int:
        """The port of the master as the first sentinel that answers names it now."""
        for sentinel in self.sentinels:
            try:
                with SyncRedis(port=sentinel.port, socket_timeout=1) as client:
                    host_port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                    return int(host_port[1])
            except RedisConnectionError:  # a sentinel that is down: ask the next
                continue
        raise RuntimeError("no sentinel answered")

    def freeze_replica(self) -> None:
        """SIGSTOP the replica, and have the master drop its link: from now on the replica
        receives nothing (the writes it will lose), not even what socket buffers would hold."""
        assert self.replica is not None
        os.kill(self.replica.pid, signal.SIGSTOP)
        with SyncRedis(port=self.master.port) as client:
            client.client_kill_filter(_type="replica")

    def thaw_replica(self) -> None:
        """SIGCONT the replica frozen by ``freeze_replica``."""
        assert self.replica is not None
        os.kill(self.replica.pid, signal.SIGCONT)

    def kill_master(self) -> None:
        """SIGKILL the first master (the replica is to become master)."""
        self.master.kill()

    def commits(self, port: int, key: str) -> int:
        """The integer at ``key`` on the server at ``port`` (0 when unset)."""
        with SyncRedis(port=port, decode_responses=True) as client:
            return int(client.get(key) or 0)

    def wait_for_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until the sentinels name a master other than ``old_port``; its port."""
        found: list[int] = []

        def moved() -> bool:
            port = self.master_port()
            found.append(port)
            return port != old_port

        self._wait(moved, "a failover", timeout)
        return found[-1]

    def _linked(self, replica: RedisServer | None) -> bool:
        assert replica is not None
        with SyncRedis(port=replica.port, decode_responses=True) as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    def _sentinels_ready(self) -> bool:
        for sentinel in self.sentinels:
            with SyncRedis(port=sentinel.port, decode_responses=True) as client:
                master = client.sentinel_master(MASTER_NAME)
                if (
                    int(master.get("num-other-sentinels", 0)) < 2
                    or int(master.get("num-slaves", 0)) < 1
                ):
                    return False
        return True

    @staticmethod
    def _wait(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}")
