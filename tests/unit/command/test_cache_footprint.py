"""The warm cache of loaded grids is bounded by grids and by their obstacles and rovers."""

from __future__ import annotations

from domain.grid import Grid
from domain.values import GridId, Position, Topology
from services.command.adapters.memory import InMemoryEventStore, InMemorySnapshotStore
from services.command.application.repository import GridRepository, LoadedGrid, RequestWindow


def _loaded(grid_id: str, obstacles: int) -> LoadedGrid:
    cells = [Position(n % 100, n // 100) for n in range(obstacles)]
    grid = Grid.create(GridId(grid_id), 100, 100, Topology.BOUNDED, cells)
    return LoadedGrid(grid, RequestWindow(10))


def _repository(footprint: int) -> GridRepository:
    return GridRepository(
        InMemoryEventStore(), InMemorySnapshotStore(), cache_size=100, cache_footprint=footprint
    )


def test_the_least_recently_used_grids_go_when_their_obstacles_pass_the_bound() -> None:
    repository = _repository(footprint=1_000)
    for name in ("a", "b", "c"):
        repository.remember(name, _loaded(name, 400))
    # 1,200 obstacles: "a", the least recently used, went.
    assert repository.cached("a") is None
    assert repository.cached("b") is not None  # now the most recently used
    repository.remember("d", _loaded("d", 400))
    assert repository.cached("c") is None
    assert repository.cached("b") is not None
    assert repository.cached("d") is not None


def test_the_grid_in_use_stays_however_large_and_replacing_it_counts_once() -> None:
    repository = _repository(footprint=1_000)
    repository.remember("small", _loaded("small", 10))
    repository.remember("huge", _loaded("huge", 5_000))
    assert repository.cached("small") is None
    assert repository.cached("huge") is not None
    for _ in range(3):  # the same grid remembered again (after each command): weighed once
        repository.remember("small", _loaded("small", 10))
    assert repository.cached("huge") is None  # the bound applies again
    repository.remember("other", _loaded("other", 500))
    assert repository.cached("small") is not None  # 510 obstacles in all: both stay
    repository.remember("third", _loaded("third", 900))  # 1,410: "other" (least recent) goes
    assert repository.cached("other") is None
    assert repository.cached("small") is not None
    assert repository.cached("third") is not None
    repository.evict("third")  # an evicted grid no longer counts: 10 + 990 fit
    repository.remember("fourth", _loaded("fourth", 990))
    assert repository.cached("small") is not None
