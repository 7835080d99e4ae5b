"""The SnapshotStore port's contract, run on InMemorySnapshotStore and EsdbSnapshotStore.

The repository loads a grid's latest snapshot (with the request window that keeps retries
idempotent after a restart) and replays only the events after it; an unreadable snapshot
must raise SnapshotUnusableError, the repository's cue to replay everything instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import reduce

import pytest
from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from domain.errors import SnapshotUnusableError
from domain.snapshot import GridSnapshot
from domain.state import GridState, evolve
from services.command.adapters.esdb_store import EsdbSnapshotStore
from services.command.adapters.memory import InMemorySnapshotStore
from services.command.application.ports import RequestRecord, SnapshotStore, StoredSnapshot
from services.common.envelope import snapshot_stream
from tests.unit.query.seed import rover_walk


@dataclass
class Harness:
    """The port, and a way to leave bytes it did not write where it keeps a grid's snapshot."""

    store: SnapshotStore
    plant: Callable[[str, bytes], Awaitable[None]]


@pytest.fixture(params=["memory", "esdb"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        memory = InMemorySnapshotStore()

        async def plant_memory(grid_id: str, data: bytes) -> None:
            memory.plant(grid_id, data, StoredSnapshot(snapshot_at("x", 2)))

        return Harness(memory, plant_memory)
    esdb: AsyncEventStoreDBClient = request.getfixturevalue("esdb")

    async def plant_esdb(grid_id: str, data: bytes) -> None:
        event = NewEvent(type="GridSnapshot", data=data, id=uuid.uuid4())
        await esdb.append_to_stream(
            snapshot_stream(grid_id), current_version=StreamState.ANY, events=[event]
        )

    return Harness(EsdbSnapshotStore(esdb, timeout=5.0), plant_esdb)


def snapshot_at(grid_id: str, version: int) -> GridSnapshot:
    """The state of a three-rover walk on ``grid_id`` after ``version`` events."""
    events = [e.event for e in rover_walk(grid_id, 3, version)][:version]
    state: GridState | None = reduce(evolve, events, None)
    assert state is not None
    return GridSnapshot(state, version)


def window(*request_ids: str) -> tuple[RequestRecord, ...]:
    return tuple(
        RequestRecord(rid, "MoveRoverForward", f"digest-{n}", n, n + 1)
        for n, rid in enumerate(request_ids, start=4)
    )


async def test_a_grid_without_a_snapshot_loads_none(harness: Harness) -> None:
    assert await harness.store.load("g") is None


async def test_a_snapshot_round_trips_with_its_request_window(harness: Harness) -> None:
    saved = StoredSnapshot(snapshot_at("g", 9), window("req-a", "req-b"))
    await harness.store.save("g", saved)
    assert await harness.store.load("g") == saved


async def test_an_empty_request_window_round_trips(harness: Harness) -> None:
    saved = StoredSnapshot(snapshot_at("g", 4))
    await harness.store.save("g", saved)
    assert await harness.store.load("g") == saved


async def test_the_latest_snapshot_wins(harness: Harness) -> None:
    for version in range(3, 9):  # more saves than the store needs to keep
        await harness.store.save(
            "g", StoredSnapshot(snapshot_at("g", version), window(str(version)))
        )
    assert await harness.store.load("g") == StoredSnapshot(snapshot_at("g", 8), window("8"))


async def test_grids_have_their_own_snapshots(harness: Harness) -> None:
    await harness.store.save("g", StoredSnapshot(snapshot_at("g", 5), window("one")))
    await harness.store.save("h", StoredSnapshot(snapshot_at("h", 7)))
    assert await harness.store.load("g") == StoredSnapshot(snapshot_at("g", 5), window("one"))
    assert await harness.store.load("h") == StoredSnapshot(snapshot_at("h", 7))
    assert await harness.store.load("i") is None


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1, 2]", b'{"schema": 999, "version": 3}', b'{"schema": 1, "version": 3}'],
    ids=["not-json", "not-an-object", "other-schema", "malformed"],
)
async def test_an_unreadable_snapshot_is_unusable(harness: Harness, data: bytes) -> None:
    await harness.plant("g", data)
    with pytest.raises(SnapshotUnusableError):
        await harness.store.load("g")


async def test_a_new_snapshot_replaces_an_unreadable_one(harness: Harness) -> None:
    await harness.plant("g", b"not json")
    saved = StoredSnapshot(snapshot_at("g", 6), window("after"))
    await harness.store.save("g", saved)
    assert await harness.store.load("g") == saved
