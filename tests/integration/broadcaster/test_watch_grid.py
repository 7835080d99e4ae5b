"""WatchGrid over real gRPC against the embedded event store: order, completeness, resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import NotFound
from google.rpc import error_details_pb2

from protos.rover.v1 import live_pb2, live_pb2_grpc
from services.common.envelope import Envelope, integration_stream
from services.common.rich_errors import details_of
from tests.integration.broadcaster.commands import CommandStub, GridDriver
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import Appender, Watcher, new_grid_id
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow

GRIDS = 10
COMMANDS_PER_GRID = 100  # 1,000 commands in all


def planned(script: GridScript, commands: int) -> list[list[Envelope]]:
    return [script.next() for _ in range(commands)]


async def _published(esdb_uri: str, versions: dict[str, int]) -> None:
    """Wait until each grid's integration stream holds its first ``versions`` events."""
    client = AsyncEventStoreDBClient(esdb_uri)
    await client.connect()
    try:
        async with asyncio.timeout(30):  # a guard against hanging, not a speed check
            for grid_id, version in versions.items():
                while True:
                    try:
                        stored = await client.get_stream(integration_stream(grid_id))
                    except NotFound:
                        stored = ()
                    if len(stored) >= version:
                        break
                    await asyncio.sleep(0.02)
    finally:
        await client.close()


async def test_every_watcher_gets_exactly_its_grids_updates_in_order(
    commands: CommandStub, start_broadcaster: StartBroadcaster, esdb_uri: str
) -> None:
    # Heartbeats wake idle watchers, so that they notice the final version once it is known.
    broadcaster = await start_broadcaster(broadcaster_heartbeat_seconds=0.2)
    target = f"127.0.0.1:{broadcaster.port}"
    drivers = [GridDriver(commands, new_grid_id(), rovers=4, seed=i) for i in range(GRIDS)]
    await asyncio.gather(*(d.create() for d in drivers))
    # The grids exist before anyone watches: acknowledged is not yet published, and the
    # broadcaster knows a grid from its integration stream only.
    await _published(esdb_uri, {d.grid_id: d.version for d in drivers})
    finals: dict[str, int] = {}

    def until(grid_id: str) -> Callable[[], int | None]:
        return lambda: finals.get(grid_id)

    def watch(watchers: list[Watcher]) -> list[asyncio.Task[Watcher]]:
        return [asyncio.create_task(w.run(until=until(w.grid_id))) for w in watchers]

    early = [Watcher(target, d.grid_id, from_version=v) for d in drivers for v in (None, 0, 1)]
    early_tasks = watch(early)
    halfway = asyncio.Event()
    sent = [1]

    async def drive(driver: GridDriver) -> None:
        for _ in range(COMMANDS_PER_GRID - 1):
            await driver.command()
            sent[0] += 1
            if sent[0] >= GRIDS * COMMANDS_PER_GRID // 3:
                halfway.set()

    driving = asyncio.gather(*(drive(d) for d in drivers))
    await halfway.wait()  # a third of the commands in: late watchers replay, then go live
    late = [Watcher(target, d.grid_id, from_version=0) for d in drivers]
    late += [Watcher(target, d.grid_id) for d in drivers]
    late_tasks = watch(late)
    await driving
    finals.update({d.grid_id: d.version for d in drivers})
    await asyncio.gather(*early_tasks, *late_tasks)

    by_grid: dict[str, GridDriver] = {d.grid_id: d for d in drivers}
    assert sum(len(d.events) for d in drivers) >= GRIDS * COMMANDS_PER_GRID
    for driver in drivers:  # what the command service reported is itself gapless
        assert [e.sequence for e in driver.events] == list(range(1, driver.version + 1))
    for watcher in early + late:
        reported = by_grid[watcher.grid_id].events
        assert watcher.error is None, watcher.error
        start = watcher.from_version
        if start is None:
            assert watcher.updates[0].WhichOneof("update") == "snapshot"
            start = watcher.updates[0].sequence
            assert watcher.updates[0].snapshot.version == start
            assert watcher.updates[0].snapshot.grid_id == watcher.grid_id
        changes = [u.event for u in watcher.updates if u.WhichOneof("update") == "event"]
        # exactly the events the command results reported after ``start``: ids, sequences,
        # payloads and timestamps alike, in order, none missing and none twice
        assert [c.event for c in changes] == reported[start:]
        assert all(c.HasField("rover") for c in changes if c.event.sequence > 1)


async def test_resume_after_a_disconnection_misses_nothing_and_repeats_nothing(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster()
    target = f"127.0.0.1:{broadcaster.port}"
    script = GridScript(new_grid_id(), rovers=3)
    plan = planned(script, 120)
    for batch in plan[:40]:
        await appender.append(batch)

    async def drive() -> None:
        for batch in plan[40:]:
            await appender.append(batch)

    driver = asyncio.create_task(drive())
    # Watch from the current state, and disconnect mid-stream ...
    first = await Watcher(target, script.grid_id).run(until=plan[59][-1].sequence)
    await asyncio.sleep(0.05)
    # ... and come back from the last sequence seen, while commands keep coming.
    second = await Watcher(target, script.grid_id, from_version=first.last).run(
        until=script.version
    )
    await driver
    snapshot = first.updates[0]
    assert snapshot.WhichOneof("update") == "snapshot"
    union = [snapshot.sequence, *first.sequences(), *second.sequences()]
    assert union == list(range(snapshot.sequence, script.version + 1))
    assert second.sequences()[0] == first.last + 1


async def test_errors_and_heartbeats(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster(broadcaster_heartbeat_seconds=0.05)
    target = f"127.0.0.1:{broadcaster.port}"
    script = GridScript(new_grid_id(), rovers=1)
    await appender.command(script, 3)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = live_pb2_grpc.RoverLiveServiceStub(channel)

        async def status_of(request: live_pb2.WatchGridRequest) -> grpc.aio.AioRpcError:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in stub.WatchGrid(request):
                    pass
            return caught.value

        missing = await status_of(live_pb2.WatchGridRequest(grid_id="no-such-grid"))
        assert missing.code() == grpc.StatusCode.NOT_FOUND
        assert any(isinstance(d, error_details_pb2.ResourceInfo) for d in details_of(missing))
        bad_id = await status_of(live_pb2.WatchGridRequest(grid_id="not a valid id!"))
        assert bad_id.code() == grpc.StatusCode.INVALID_ARGUMENT
        for from_version in (-1, script.version + 1):
            bad = await status_of(
                live_pb2.WatchGridRequest(grid_id=script.grid_id, from_version=from_version)
            )
            assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
            (violation,) = [
                v
                for d in details_of(bad)
                if isinstance(d, error_details_pb2.BadRequest)
                for v in d.field_violations
            ]
            assert violation.field == "from_version"

        call = stub.WatchGrid(
            live_pb2.WatchGridRequest(grid_id=script.grid_id, from_version=script.version)
        )
        beats = 0
        async for update in call:
            assert update.WhichOneof("update") == "heartbeat"
            assert update.sequence == script.version
            assert update.heartbeat.sent_at.seconds > 0
            beats += 1
            if beats == 2:
                call.cancel()
                break
    for _ in range(200):  # the cancelled call's subscription goes at once (a few loop turns)
        if broadcaster.parts.hub.watcher_count == 0:
            break
        await asyncio.sleep(0.01)
    assert broadcaster.parts.hub.watcher_count == 0
