"""Connect to the read model's Redis from ``ROVER_REDIS_URL``: one server, or through Sentinel.

Two URL forms (docs/operations.md "Redis Sentinel"):

- ``redis://[:password@]host:port/db`` (or ``rediss://``, ``unix://``): one server, as
  ``Redis.from_url`` reads it.
- ``redis+sentinel://[:password@]host:port[,host:port...]/master-name[/db]``: the sentinels
  to ask, and the name of the master they watch. Every new connection asks them where the
  master is, so the clients follow a failover; the password (when given) is the master's.

Each gives two clients on the same server: one that decodes replies to text, one that returns
bytes (the read model's serialised details).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel

__all__ = [
    "SENTINEL_SCHEME",
    "RedisClients",
    "SentinelTarget",
    "binary_twin",
    "connect",
    "parse_sentinel_url",
]

SENTINEL_SCHEME = "redis+sentinel"
_SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    password: str | None = None


@dataclass(frozen=True, slots=True)
class RedisClients:
    """A text client and a bytes client on the same server (closed together), and the clients
    of the sentinels they ask (none for one server)."""

    text: Redis
    raw: Redis
    sentinels: tuple[Redis, ...] = ()

    async def close(self) -> None:
        """Close every client's connections."""
        for client in (self.text, self.raw, *self.sentinels):
            await client.aclose()


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The sentinels, master name and database of a ``redis+sentinel://`` URL.

    ValueError with what is wrong for anything else (no host, no master name, a bad port).
    """
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {url!r}")
    credentials, _, hosts = parts.netloc.rpartition("@")
    password = unquote(credentials.partition(":")[2]) if credentials else None
    sentinels: list[tuple[str, int]] = []
    for entry in hosts.split(","):
        host, colon, port = entry.strip().rpartition(":")
        if not colon:
            host, port = port, str(_SENTINEL_PORT)
        if not host or not port.isdigit():
            raise ValueError(f"{url!r}: {entry!r} is not host[:port]")
        sentinels.append((host, int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(f"{url!r}: the path must be /master-name or /master-name/db")
    db = path[1] if len(path) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"{url!r}: the database {db!r} is not a number")
    return SentinelTarget(tuple(sentinels), unquote(path[0]), int(db), password or None)


def connect(url: str) -> RedisClients:
    """The clients for ``url`` (lazy: nothing connects before the first command)."""
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
