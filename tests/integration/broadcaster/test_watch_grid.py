"""WatchGrid over real gRPC against the embedded event store: order, completeness, resume."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2

from protos.rover.v1 import live_pb2, live_pb2_grpc
from services.common.envelope import Envelope
from services.common.rich_errors import details_of
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import Appender, Watcher, new_grid_id
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow

GRIDS = 10
COMMANDS_PER_GRID = 100  # 1,000 commands in all


def planned(script: GridScript, commands: int) -> list[list[Envelope]]:
    return [script.next() for _ in range(commands)]


async def test_every_watcher_gets_exactly_its_grids_updates_in_order(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster()
    target = f"127.0.0.1:{broadcaster.port}"
    scripts = [GridScript(new_grid_id(), rovers=4, seed=i) for i in range(GRIDS)]
    plans = [planned(s, COMMANDS_PER_GRID) for s in scripts]
    for plan in plans:
        await appender.append(plan[0])  # the grids exist before anyone watches

    early = [Watcher(target, s.grid_id, from_version=v) for s in scripts for v in (None, 0, 1)]
    early_tasks = [asyncio.create_task(w.run(until=s.version)) for w, s in _pairs(early, scripts)]

    async def drive(plan: list[list[Envelope]]) -> None:
        for batch in plan[1:]:
            await appender.append(batch)

    drivers = [asyncio.create_task(drive(plan)) for plan in plans]
    await asyncio.sleep(0.2)  # some commands in: late watchers replay and then go live
    late = [Watcher(target, s.grid_id, from_version=0) for s in scripts]
    late += [Watcher(target, s.grid_id) for s in scripts]
    late_tasks = [asyncio.create_task(w.run(until=s.version)) for w, s in _pairs(late, scripts)]
    await asyncio.gather(*drivers)
    await asyncio.gather(*early_tasks, *late_tasks)

    by_grid: dict[str, GridScript] = {s.grid_id: s for s in scripts}
    for watcher in early + late:
        script = by_grid[watcher.grid_id]
        assert watcher.error is None, watcher.error
        start = watcher.from_version
        if start is None:
            assert watcher.updates[0].WhichOneof("update") == "snapshot"
            start = watcher.updates[0].sequence
            assert watcher.updates[0].snapshot.version == start
        expected = script.history[start:]
        assert watcher.sequences() == [e.sequence for e in expected]
        assert watcher.event_ids() == [str(e.event_id) for e in expected]
        assert all(u.event.event.grid_id == script.grid_id for u in watcher.updates[1:])


def _pairs(watchers: list[Watcher], scripts: list[GridScript]) -> list[tuple[Watcher, GridScript]]:
    by_grid: dict[str, GridScript] = {s.grid_id: s for s in scripts}
    return [(w, by_grid[w.grid_id]) for w in watchers]


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
        if broadcaster.hub.watcher_count == 0:
            break
        await asyncio.sleep(0.01)
    assert broadcaster.hub.watcher_count == 0
