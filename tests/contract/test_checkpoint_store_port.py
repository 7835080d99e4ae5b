"""The CheckpointStore port's contract, run on InMemoryCheckpointStore and EsdbCheckpointStore.

The publisher saves the commit position it has published up to and loads it on start: the
latest save must win (also a lower or zero position) and survive a new connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from services.command.adapters.esdb_publishing import EsdbCheckpointStore
from services.command.adapters.memory import InMemoryCheckpointStore
from services.command.application.ports import CheckpointStore
from tests.contract.conftest import Connect

# Opens the checkpoint store called ``name``: a new adapter (and, for the real one, a new
# connection) over the same storage each time, as a restarted publisher would.
Open = Callable[[str], Awaitable[CheckpointStore]]


@pytest.fixture(params=["memory", "esdb"])
def open_store(request: pytest.FixtureRequest) -> Open:
    if request.param == "memory":
        stores: dict[str, InMemoryCheckpointStore] = {}

        async def open_memory(name: str) -> CheckpointStore:
            return stores.setdefault(name, InMemoryCheckpointStore())

        return open_memory
    connect: Connect = request.getfixturevalue("connect")

    async def open_esdb(name: str) -> CheckpointStore:
        return EsdbCheckpointStore(await connect(), f"$publisher-{name}", timeout=5.0)

    return open_esdb


async def test_nothing_is_loaded_before_the_first_save(open_store: Open) -> None:
    assert await (await open_store("a")).load() is None


async def test_the_latest_save_wins_even_when_lower_or_zero(open_store: Open) -> None:
    store = await open_store("a")
    for position in (10, 500, 7, 0):
        await store.save(position)
        assert await store.load() == position


async def test_a_checkpoint_survives_reopening(open_store: Open) -> None:
    first = await open_store("a")
    for position in range(1, 6):  # more saves than the stream keeps
        await first.save(position * 100)
    again = await open_store("a")
    assert await again.load() == 500
    await again.save(600)
    assert await (await open_store("a")).load() == 600


async def test_checkpoints_of_different_names_are_independent(open_store: Open) -> None:
    await (await open_store("a")).save(42)
    assert await (await open_store("b")).load() is None
    await (await open_store("b")).save(7)
    assert await (await open_store("a")).load() == 42
