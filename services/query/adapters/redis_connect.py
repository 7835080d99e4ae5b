"""Connect to the read model's Redis from ``ROVER_REDIS_URL``: one server, or through Sentinel.

Two URL forms (docs/operations.md "Redis Sentinel"):

- ``redis://[:password@]host:port/db`` (or ``rediss://``, ``unix://``): one server, as
  ``Redis.from_url`` reads it.
- ``redis+sentinel://[:password@]host:port[,host:port...]/master-name[/db]``: the sentinels
  to ask, and the name of the master they watch. Every new connection asks them where the
  master is, so the clients follow a failover; the password (when given) is the master's.
- ``redis+cluster://[:password@]host:port[,host:port...]``: some nodes of a Redis Cluster
  (the client learns the others and the slots from them); no database (a cluster has only 0).
  The read model then uses the tagged key layout (redis_keys.py).

Each gives two clients on the same server: one that decodes replies to text, one that returns
bytes (the read model's serialised details).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

__all__ = [
    "CLUSTER_SCHEME",
    "SENTINEL_SCHEME",
    "SentinelTarget",
    "binary_twin",
    "connect",
    "parse_cluster_url",
    "parse_sentinel_url",
]

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
_SENTINEL_PORT = 26379
_CLUSTER_PORT = 6379


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    password: str | None = None


@dataclass(frozen=True, slots=True)
class RedisClients:
    """A text client and a bytes client on the same server or cluster (closed together), and
    the clients of the sentinels they ask (none for one server)."""

    text: Redis | RedisCluster
    raw: Redis | RedisCluster
    sentinels: tuple[Redis, ...] = ()

    async def close(self) -> None:
        """Close every client's connections."""
        for client in (self.text, self.raw, *self.sentinels):
            await client.aclose()


def _hosts(url: str, netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    """The ``host[:port]`` list of a URL's netloc (after any credentials)."""
    found: list[tuple[str, int]] = []
    for entry in netloc.rpartition("@")[2].split(","):
        host, colon, port = entry.strip().rpartition(":")
        if not colon:
            host, port = port, str(default_port)
        if not host or not port.isdigit():
            raise ValueError(f"{url!r}: {entry!r} is not host[:port]")
        found.append((host, int(port)))
    return tuple(found)


def _password(netloc: str) -> str | None:
    credentials = netloc.rpartition("@")[0]
    return unquote(credentials.partition(":")[2]) or None if credentials else None


def parse_cluster_url(url: str) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """The nodes and password of a ``redis+cluster://`` URL (ValueError when malformed)."""
    parts = urlsplit(url)
    if parts.scheme != CLUSTER_SCHEME:
        raise ValueError(f"not a {CLUSTER_SCHEME}:// URL: {url!r}")
    if parts.path.strip("/"):
        raise ValueError(f"{url!r}: a Redis Cluster has no databases; leave the path out")
    return _hosts(url, parts.netloc, _CLUSTER_PORT), _password(parts.netloc)


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The sentinels, master name and database of a ``redis+sentinel://`` URL.

    ValueError with what is wrong for anything else (no host, no master name, a bad port).
    """
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {url!r}")
    sentinels = _hosts(url, parts.netloc, _SENTINEL_PORT)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(f"{url!r}: the path must be /master-name or /master-name/db")
    db = path[1] if len(path) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"{url!r}: the database {db!r} is not a number")
    return SentinelTarget(sentinels, unquote(path[0]), int(db), _password(parts.netloc))


def connect(url: str) -> RedisClients:
    """The clients for ``url`` (lazy: nothing connects before the first command)."""
    if urlsplit(url).scheme == CLUSTER_SCHEME:
        nodes, password = parse_cluster_url(url)
        text_node, raw_node = (
            RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                password=password,
                decode_responses=decode,
            )
            for decode in (True, False)
        )
        return RedisClients(text_node, raw_node)
    if urlsplit(url).scheme == SENTINEL_SCHEME:
        target = parse_sentinel_url(url)
        sentinel = Sentinel(target.sentinels)
        text, raw = (
            sentinel.master_for(
                target.master, db=target.db, password=target.password, decode_responses=decode
            )
            for decode in (True, False)
        )
        return RedisClients(text, raw, tuple(sentinel.sentinels))
    text = Redis.from_url(url, decode_responses=True)
    return RedisClients(text, binary_twin(text))


def binary_twin(redis: Redis) -> Redis:
    """A client on the same server as ``redis`` (one server, not Sentinel) returning bytes."""
    pool = redis.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return Redis.from_pool(  # owns the pool: aclose() closes its connections
        BlockingConnectionPool(  # a burst of queries waits for a connection, never fails
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            timeout=None,
            **kwargs,
        )
    )
