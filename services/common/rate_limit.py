"""Token buckets per client, at most a fixed number of clients kept (least recently seen goes)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when ``tokens`` was last brought up to date


class RateLimiter:
    """Admits ``rate`` calls a second per client with bursts of up to ``burst``.

    A client first seen starts with a full bucket. At most ``clients`` buckets are kept; a new
    client beyond them evicts the least recently seen one, which starts full again when it
    comes back (a forgotten client gains at most one burst). Not thread-safe: one event loop.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clients: int,
        clock: Callable[[], float],
    ) -> None:
        if rate <= 0 or burst < 1 or clients < 1:
            raise ValueError("rate must be > 0, burst and clients >= 1")
        self._rate, self._burst, self._clients, self._clock = rate, float(burst), clients, clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> float:
        """Take one call from ``client``'s bucket: 0.0 when admitted, else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(self._burst, now)
            if len(self._buckets) > self._clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate
