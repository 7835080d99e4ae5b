"""The Clock and IdGenerator ports' contracts, on the test fakes and the system adapters.

Events record ``Clock.now()`` as their time (timezone-aware UTC) and ``IdGenerator`` ids as
event ids (unique: the store deduplicates by them) and as ids of grids and rovers created
without one (they must be valid ids).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.values import GridId, RoverId
from services.command.adapters.memory import CountingIds, SteppingClock
from services.command.adapters.system import SystemClock, UuidGenerator
from services.command.application.ports import Clock, IdGenerator


@pytest.fixture(params=["memory", "system"])
def clock(request: pytest.FixtureRequest) -> Clock:
    return SteppingClock() if request.param == "memory" else SystemClock()


@pytest.fixture(params=["memory", "system"])
def ids(request: pytest.FixtureRequest) -> IdGenerator:
    return CountingIds() if request.param == "memory" else UuidGenerator()


def test_now_is_timezone_aware_utc(clock: Clock) -> None:
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_event_ids_are_unique(ids: IdGenerator) -> None:
    assert len({ids.event_id() for _ in range(1_000)}) == 1_000


def test_entity_ids_are_unique_valid_grid_and_rover_ids(ids: IdGenerator) -> None:
    made = [ids.entity_id() for _ in range(1_000)]
    assert len(set(made)) == 1_000
    for entity_id in made[:50]:
        assert GridId(entity_id) == entity_id  # InvalidIdError otherwise
        assert RoverId(entity_id) == entity_id
