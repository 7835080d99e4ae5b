"""The CheckpointStore port's contract, run on InMemoryCheckpointStore and EsdbCheckpointStore.

The publisher saves the commit position it has published up to and loads it on start: the
latest save must win (also a lower or zero position) and survive a new connection. The store
is also the publisher's lease: one instance at a time may save, a standby takes over once the
holder released it, died on this host, or stopped renewing for its ttl, and a save by an
instance that lost the lease is refused, so the checkpoint never moves backwards.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable

import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from services.command.adapters.esdb_publishing import EsdbCheckpointStore
from services.command.adapters.memory import CheckpointCell, InMemoryCheckpointStore
from services.command.application.ports import CheckpointStore
from services.common.lease import LeaseLostError, new_holder_id
from tests.contract.conftest import Connect

_TTL = 5.0


class FakeClock:
    """A monotonic clock the test moves by hand (shared by every store of a test)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Opens the checkpoint store called ``name`` for a holder: a new adapter (and, for the real
# one, a new connection) over the same storage each time, as another instance would.
Open = Callable[..., Awaitable[CheckpointStore]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "esdb"])
def open_store(request: pytest.FixtureRequest, clock: FakeClock) -> Open:
    if request.param == "memory":
        cells: dict[str, CheckpointCell] = {}

        async def open_memory(name: str, holder: str | None = None) -> CheckpointStore:
            cell = cells.setdefault(name, CheckpointCell())
            return InMemoryCheckpointStore(cell, holder=holder, ttl=_TTL, monotonic=clock)

        return open_memory
    connect: Connect = request.getfixturevalue("connect")

    async def open_esdb(name: str, holder: str | None = None) -> CheckpointStore:
        client = await connect()
        return EsdbCheckpointStore(
            client, f"$publisher-{name}", timeout=5.0, holder=holder, ttl=_TTL, monotonic=clock
        )

    return open_esdb


async def exited_pid() -> int:
    """The pid of a process of this host that has exited."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os; print(os.getpid())", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    return int(out)


async def held(open_store: Open, name: str = "a") -> CheckpointStore:
    store = await open_store(name)
    assert await store.acquire()
    return store


async def test_nothing_is_loaded_before_the_first_save(open_store: Open) -> None:
    assert await (await open_store("a")).load() is None


async def test_the_latest_save_wins_even_when_lower_or_zero(open_store: Open) -> None:
    store = await held(open_store)
    for position in (10, 500, 7, 0):
        await store.save(position)
        assert await store.load() == position


async def test_a_checkpoint_survives_a_graceful_restart(open_store: Open) -> None:
    first = await held(open_store)
    for position in range(1, 6):  # more saves than the stream keeps
        await first.save(position * 100)
    await first.release()
    again = await held(open_store)  # at once: it was released
    assert await again.load() == 500
    await again.save(600)
    assert await (await open_store("a")).load() == 600


async def test_checkpoints_of_different_names_are_independent(open_store: Open) -> None:
    await (await held(open_store, "a")).save(42)
    assert await (await open_store("b")).load() is None
    await (await held(open_store, "b")).save(7)
    assert await (await open_store("a")).load() == 42


async def test_one_holder_at_a_time(open_store: Open) -> None:
    first = await held(open_store)
    second = await open_store("a")
    assert await first.acquire()  # holding it already: still True
    assert not await second.acquire()
    assert second.current_holder() == first.holder
    with pytest.raises(LeaseLostError):
        await second.save(1)
    assert await first.renew()
    assert not await second.renew()


async def test_a_released_lease_is_taken_at_once_and_the_old_holder_is_fenced(
    open_store: Open,
) -> None:
    first = await held(open_store)
    await first.save(100)
    second = await open_store("a")
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
    assert await second.load() == 100
    with pytest.raises(LeaseLostError):  # a late save of the old holder: refused
        await first.save(50)
    assert not await first.renew()
    assert await second.load() == 100


async def test_an_unrenewed_lease_expires_after_its_ttl_on_the_standbys_clock(
    open_store: Open, clock: FakeClock
) -> None:
    first = await held(open_store)
    await first.save(100)
    second = await open_store("a")
    assert not await second.acquire()  # seen now
    clock.now += _TTL - 0.5
    assert not await second.acquire()
    assert await first.renew()  # the holder is alive: the standby's wait starts over
    clock.now += 1.0
    assert not await second.acquire()
    clock.now += _TTL  # no renewal for a whole ttl since it was seen
    assert await second.acquire()
    await second.save(200)
    with pytest.raises(LeaseLostError):
        await first.save(150)  # the checkpoint never moves backwards
    assert await (await open_store("a")).load() == 200


async def test_a_holder_that_died_on_this_host_is_replaced_at_once(open_store: Open) -> None:
    pid = await exited_pid()
    host = new_holder_id().split(":")[0]
    first = await open_store("a", holder=f"{host}:{pid}:deadbeef")
    assert await first.acquire()
    await first.save(7)
    second = await open_store("a")
    assert await second.acquire()
    assert await second.load() == 7


async def test_two_standbys_racing_for_a_free_lease_get_one_holder(open_store: Open) -> None:
    stores = [await open_store("a") for _ in range(4)]
    won = await asyncio.gather(*(s.acquire() for s in stores))
    assert sum(won) == 1


async def test_a_checkpoint_written_before_leases_is_taken_at_once(
    connect: Connect,
) -> None:
    client: AsyncEventStoreDBClient = await connect()
    await client.append_to_stream(
        "$publisher-old",
        current_version=StreamState.NO_STREAM,
        events=[
            NewEvent(type="PublisherCheckpoint", data=json.dumps({"commit_position": 9}).encode())
        ],
    )
    store = EsdbCheckpointStore(await connect(), "$publisher-old")
    assert await store.load() == 9
    assert await store.acquire()
    await store.save(10)
    assert await store.load() == 10
