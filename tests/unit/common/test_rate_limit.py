"""The token buckets of services/common/rate_limit.py: rate, burst and the bound on clients."""

from __future__ import annotations

from services.common.rate_limit import RateLimiter


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_admits_a_burst_then_one_call_per_interval() -> None:
    clock = _Clock()
    limiter = RateLimiter(4.0, 2, clients=10, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.25]
    clock.now += 0.125
    assert limiter.take("a") == 0.125  # half a token back: half the wait left
    clock.now += 0.125
    assert limiter.take("a") == 0.0
    clock.now += 100
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.25]  # refilled to the burst


def test_the_rate_limiter_forgets_the_least_recently_seen_client() -> None:
    clock = _Clock()
    limiter = RateLimiter(1.0, 1, clients=2, clock=clock)
    assert limiter.take("a") == 0.0
    assert limiter.take("b") == 0.0
    assert limiter.take("a") == 1.0  # empty: a second to the next token
    assert limiter.take("c") == 0.0  # evicts b, the least recently seen
    assert len(limiter) == 2
    assert limiter.take("a") == 1.0  # a was kept
    assert limiter.take("b") == 0.0  # b starts over with a full bucket
