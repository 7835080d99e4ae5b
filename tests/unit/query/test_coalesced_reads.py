"""Read coalescing: concurrent reads share one batched read, and none is answered stale."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.query.adapters.coalesced_reads import ReadCoalescer
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.bootstrap import build
from services.query.settings import QuerySettings


class _Store:
    """A key-value store whose batched reads can be held open, counting each batch."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def read_many(self, keys: Sequence[str]) -> list[int | None]:
        self.batches.append(list(keys))
        snapshot = [self.values.get(key) for key in keys]  # read when the batch starts
        await self.gate.wait()
        return snapshot


async def test_concurrent_reads_share_one_batch_and_each_gets_its_key() -> None:
    store = _Store()
    store.values = {"a": 1, "b": 2}
    coalescer = ReadCoalescer(store.read_many)
    asked = ["a", "b", "a", "missing", "b"]
    found = await asyncio.gather(*(coalescer.read(key) for key in asked))
    assert found == [1, 2, 1, None, 2]
    assert store.batches == [["a", "b", "missing"]]  # each key read once, in one batch


async def test_a_read_made_during_a_batch_waits_for_the_next_one() -> None:
    store = _Store()
    store.values = {"a": 1}
    coalescer = ReadCoalescer(store.read_many)
    store.gate.clear()
    first = asyncio.create_task(coalescer.read("a"))
    await asyncio.sleep(0.01)  # the first batch is in flight, holding the old value
    store.values["a"] = 2  # a write the next caller has seen
    second = asyncio.create_task(coalescer.read("a"))
    await asyncio.sleep(0.01)
    store.gate.set()
    assert (await first, await second) == (1, 2)
    assert store.batches == [["a"], ["a"]]


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def flaky(keys: Sequence[str]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("redis went away")
        return [len(key) for key in keys]

    coalescer = ReadCoalescer(flaky)
    with pytest.raises(ConnectionError):
        await coalescer.read("a")
    assert await coalescer.read("abc") == 3


async def test_a_reply_of_the_wrong_length_fails_its_callers_instead_of_hanging() -> None:
    async def short(keys: Sequence[str]) -> list[int]:
        return []

    coalescer = ReadCoalescer(short)
    with pytest.raises(ValueError, match="1 keys read, 0 replies"):
        await asyncio.wait_for(coalescer.read("a"), timeout=30)


@pytest.mark.parametrize("coalesce", [True, False])
def test_build_switches_read_coalescing(coalesce: bool) -> None:
    app = build(QuerySettings(), feed=None, coalesce_reads=coalesce)
    model = app.parts.read_model
    assert isinstance(model, RedisReadModel)
    assert (model.coalescer is not None) is coalesce
