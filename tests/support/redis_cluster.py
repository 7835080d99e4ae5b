"""A Redis Cluster of three masters for tests: child redis-servers in cluster mode, their
16384 slots split in three (CLUSTER ADDSLOTS) and introduced (CLUSTER MEET): what
``redis-cli --cluster create`` does, without needing redis-cli.

Fixtures: ``redis_cluster`` (session) and ``redis_cluster_url`` (every node flushed first).
``with RedisClusterGroup() as cluster: cluster.url`` is the ``redis+cluster://`` URL the query
service takes (services/query/adapters/redis_connect.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Self

import pytest
from redis import Redis as SyncRedis

from tests.support.redis_server import RedisServer, ServerGroup

__all__ = ["SLOTS", "RedisClusterGroup", "redis_cluster", "redis_cluster_url"]

SLOTS = 16384


class RedisClusterGroup(ServerGroup):
    """``masters`` redis-servers in cluster mode, every slot served once they are started."""

    def __init__(self, masters: int = 3, *, node_timeout_ms: int = 15_000) -> None:
        mode = (
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
        )  # fmt: skip
        self.nodes = [RedisServer(args=mode) for _ in range(masters)]

    def servers(self) -> list[RedisServer]:
        return self.nodes

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,...``."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> Self:
        """Start the nodes, give each a third of the slots, join them; wait for state ok."""
        for node in self.nodes:
            node.start()
        share = -(-SLOTS // len(self.nodes))
        for index, node in enumerate(self.nodes):
            with SyncRedis(port=node.port) as client:
                first, last = index * share, min(SLOTS, (index + 1) * share)
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last))
                if index:
                    client.execute_command("CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
        deadline = time.monotonic() + 30
        while not all(self._ok(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        return self

    def _ok(self, node: RedisServer) -> bool:
        with SyncRedis(port=node.port, decode_responses=True) as client:
            info = client.execute_command("CLUSTER INFO")  # parsed into a dict by redis-py
            known = int(info.get("cluster_known_nodes", 0))
            return bool(info.get("cluster_state") == "ok" and known == len(self.nodes))

    def keys_per_node(self) -> list[int]:
        """How many keys each node holds (DBSIZE), in node order."""
        counts = []
        for node in self.nodes:
            with SyncRedis(port=node.port) as client:
                counts.append(int(client.dbsize()))
        return counts


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterGroup]:
    """One private three-master cluster for the session."""
    with RedisClusterGroup() as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterGroup) -> str:
    """The session cluster's URL, every node flushed before the test."""
    for node in redis_cluster.nodes:
        with SyncRedis(port=node.port) as client:
            client.flushall()
    return redis_cluster.url
