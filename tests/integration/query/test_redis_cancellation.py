"""A cancelled call to the read model ends cancelled, never as if it had completed.

redis-py's asyncio client (8.x) sometimes lets a call return its reply to a task that is being
cancelled, the cancellation lost: a projector stopped during a commit then went on projecting
and the service's stop waited for it for minutes. The adapter re-raises such a cancellation
(``services.common.cancellation``); this cancels calls at random moments, many times.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.ports import Checkpoint
from tests.support.redis_server import redis_server, redis_url  # noqa: F401

TRIES = 300


async def _cancelled_at_random(call: Callable[[int], Awaitable[object]]) -> list[int]:
    """The tries whose call ended normally although cancelled while it was still running."""
    lost = []
    for attempt in range(TRIES):
        task = asyncio.ensure_future(call(attempt))
        await asyncio.sleep(random.random() * 0.002)
        if task.cancel():  # still running: it must end cancelled
            await asyncio.gather(task, return_exceptions=True)
            if not task.cancelled():
                lost.append(attempt)
        else:
            await task
    return lost


@pytest.mark.parametrize("operation", ["commit", "grid_versions", "checkpoint", "instance"])
async def test_a_cancelled_read_model_call_ends_cancelled(
    redis_url: str,  # noqa: F811
    operation: str,
) -> None:
    model = RedisReadModel(Redis.from_url(redis_url, decode_responses=True), "cancel")
    try:
        generation = await model.new_generation()
        calls: dict[str, Callable[[int], Awaitable[object]]] = {
            "commit": lambda n: model.commit(
                generation, [], Checkpoint(n + 1), must_be_active=False
            ),
            "grid_versions": lambda n: model.grid_versions(generation, ["a", "b"]),
            "checkpoint": lambda n: model.checkpoint(generation),
            "instance": lambda n: model.instance(),
        }
        assert await _cancelled_at_random(calls[operation]) == []
    finally:
        await model.close()
