"""The broadcaster's GridHistory port's contract, on InMemoryIntegrationLog and EsdbGridHistory.

A watcher joining a grid reads its stored events after the sequence it already has, then
follows the feed: the read must be complete and in order (across the real adapter's pages),
and a grid that does not exist must be GridNotFoundError.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import pytest
from esdbclient import AsyncEventStoreDBClient

from domain.errors import GridNotFoundError
from domain.values import GridId
from services.broadcaster.adapters.esdb import EsdbGridHistory
from services.broadcaster.adapters.memory import InMemoryIntegrationLog
from services.broadcaster.application.ports import GridHistory
from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.common.envelope import Envelope
from tests.unit.query.seed import rover_walk

_PAGE = 4  # the real adapter's page size here: reads of more than a page are tested


@dataclass
class Harness:
    """The port and a writer of a grid's integration events."""

    history: GridHistory
    write: Callable[[Sequence[Envelope]], Awaitable[None]]


@pytest.fixture(params=["memory", "esdb"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        memory = InMemoryIntegrationLog()

        async def write_memory(envelopes: Sequence[Envelope]) -> None:
            for envelope in envelopes:
                memory.append(envelope)

        return Harness(memory, write_memory)
    esdb: AsyncEventStoreDBClient = request.getfixturevalue("esdb")
    log = EsdbIntegrationLog(esdb, appender=request.getfixturevalue("appender"))

    async def write_esdb(envelopes: Sequence[Envelope]) -> None:
        await log.append(envelopes[0].grid_id, envelopes)

    return Harness(EsdbGridHistory(esdb, page_size=_PAGE), write_esdb)


def walk(grid_id: str, length: int) -> list[Envelope]:
    return rover_walk(grid_id, 2, length)[:length]


async def read(history: GridHistory, grid_id: str, after: int) -> list[Envelope]:
    return [event.envelope() async for event in history.events(GridId(grid_id), after=after)]


@pytest.mark.parametrize("after", [0, 1, _PAGE - 1, _PAGE, 2 * _PAGE, 9, 10])
async def test_events_after_a_sequence_in_order(harness: Harness, after: int) -> None:
    g = walk("g", 10)
    await harness.write(g)
    await harness.write(walk("h", 3))
    assert await read(harness.history, "g", after) == g[after:]


async def test_events_carry_their_grid_and_sequence(harness: Harness) -> None:
    await harness.write(walk("g", 6))
    found = [(e.grid_id, e.sequence) async for e in harness.history.events(GridId("g"), after=2)]
    assert found == [("g", n) for n in range(3, 7)]


async def test_last_sequence_is_the_grid_version(harness: Harness) -> None:
    g = walk("g", 2 * _PAGE + 1)
    await harness.write(g[:3])
    assert await harness.history.last_sequence(GridId("g")) == 3
    await harness.write(g[3:])
    assert await harness.history.last_sequence(GridId("g")) == 2 * _PAGE + 1


async def test_a_grid_that_does_not_exist_is_not_found(harness: Harness) -> None:
    await harness.write(walk("g", 2))
    with pytest.raises(GridNotFoundError):
        await harness.history.last_sequence(GridId("nobody"))
    with pytest.raises(GridNotFoundError):
        await read(harness.history, "nobody", 0)


@pytest.mark.parametrize("after", [0, _PAGE, 2 * _PAGE])
async def test_a_history_of_whole_pages_reads_to_its_end(harness: Harness, after: int) -> None:
    g = walk("g", 2 * _PAGE)
    await harness.write(g)
    assert await read(harness.history, "g", after) == g[after:]
