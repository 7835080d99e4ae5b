"""The projector's lease as a Redis key: one live projector at a time among the instances.

The key holds ``holder#n`` (n counts this process's tenures) with a server-side expiry, so
expiry needs no clock of ours. Acquire, renew and release are Lua scripts that compare the
value first; the read model's COMMIT script compares it too (``fence``), so a projector that
lost the lease (paused, partitioned) cannot write one more batch.
"""

from __future__ import annotations

import itertools
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from services.common import tracing
from services.common.lease import holder_is_gone, new_holder_id
from services.query.adapters import redis_scripts
from services.query.adapters.redis_keys import KeyLayout
from services.query.adapters.redis_wire import unavailable_as_port_error

__all__ = ["RedisLease", "lease_holder", "rebuild_lease_key"]

# What a commit compares the lease with when this instance holds none: matches no value.
_NOT_HELD = "\x00not held"


def rebuild_lease_key(prefix: str, *, tagged: bool = False) -> str:
    """The key of the lease that lets one admin rebuild run at a time."""
    return KeyLayout(prefix, tagged=tagged).meta("lease:rebuild")


async def lease_holder(redis: Redis | RedisCluster, key: str) -> str:
    """The instance holding the lease at ``key`` ("" when none): its value is ``holder#n``."""
    value = await redis.get(key)
    return str(value).rpartition("#")[0] if value else ""


class RedisLease:
    """Lease on ``key``; ``fence`` is the value commits must find there.

    Its calls (every second, outside any request) make no spans of their own when tracing.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        key: str,
        *,
        holder: str | None = None,
        ttl: float = 5.0,
    ) -> None:
        self.key = key
        self._holder = holder or new_holder_id()
        self._ttl_ms = max(1, round(ttl * 1000))
        self._tenures = itertools.count(1)
        self._value = ""  # ours while we hold it
        self._last_holder = ""
        self._acquire = redis.register_script(redis_scripts.LEASE_ACQUIRE)
        self._renew = redis.register_script(redis_scripts.LEASE_RENEW)
        self._release = redis.register_script(redis_scripts.LEASE_RELEASE)

    @property
    def holder(self) -> str:
        return self._holder

    @property
    def fence(self) -> str:
        """The value a fenced write must find in the key (one that matches nothing if none)."""
        return self._value or _NOT_HELD

    def current_holder(self) -> str:
        return self._last_holder

    @unavailable_as_port_error
    async def acquire(self) -> bool:
        value = self._value or f"{self._holder}#{next(self._tenures)}"
        held, current = await self._call_acquire(value, "")
        if not held and holder_is_gone(current.rpartition("#")[0]):
            held, current = await self._call_acquire(value, current)
        self._value = value if held else ""
        self._last_holder = current.rpartition("#")[0]
        return held

    async def _call_acquire(self, value: str, replaceable: str) -> tuple[bool, str]:
        with tracing.untraced():
            reply: Any = await self._acquire(
                keys=[self.key], args=[value, self._ttl_ms, replaceable]
            )
        return reply[0] == 1, _text(reply[1])

    @unavailable_as_port_error
    async def renew(self) -> bool:
        if not self._value:
            return False
        with tracing.untraced():
            reply: Any = await self._renew(keys=[self.key], args=[self._value, self._ttl_ms])
        renewed = int(reply) == 1
        if not renewed:
            self._value = ""
        return renewed

    @unavailable_as_port_error
    async def release(self) -> None:
        value, self._value = self._value, ""
        if value:
            with tracing.untraced():
                await self._release(keys=[self.key], args=[value])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
