"""A watcher that never reads: the others are not held back, and its stream ends as specified."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from protos.rover.v1 import live_pb2, live_pb2_grpc
from services.common.rich_errors import details_of
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import SAFETY, Appender, Watcher, new_grid_id
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow

FAST_WATCHERS = 100
QUEUE_SIZE = 16
MAX_COMMANDS = 3_000  # a bound on the loop below; the window fills after a few hundred


async def _until(predicate: object, rounds: int = 500) -> None:
    for _ in range(rounds):
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def test_a_watcher_that_never_reads_is_dropped_and_the_others_get_everything(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster(broadcaster_queue_size=QUEUE_SIZE)
    hub = broadcaster.parts.hub
    target = f"127.0.0.1:{broadcaster.port}"
    script = GridScript(new_grid_id("slow"), rovers=0)
    await appender.append(script.bump())  # GridCreated
    await appender.append(script.bump())  # the bumper lands

    # The slow watcher: a call nobody reads, on a channel that does not grow its window.
    slow_channel = grpc.aio.insecure_channel(target, options=[("grpc.http2.bdp_probe", 0)])
    slow_call = live_pb2_grpc.RoverLiveServiceStub(slow_channel).WatchGrid(
        live_pb2.WatchGridRequest(grid_id=script.grid_id, from_version=0), timeout=SAFETY
    )
    await _until(lambda: hub.watcher_count == 1)

    # 100 fast watchers share one channel (like a fan-out proxy would).
    async with grpc.aio.insecure_channel(target) as channel:
        fast = [Watcher(target, script.grid_id, from_version=0) for _ in range(FAST_WATCHERS)]
        final: list[int] = []
        tasks = [asyncio.create_task(w.run(until=10**9, channel=channel)) for w in fast]
        await _until(lambda: hub.watcher_count == FAST_WATCHERS + 1)
        largest = 0
        for _ in range(MAX_COMMANDS):
            await appender.append(script.bump())
            # Paced by the fast watchers: each has an update before the next is appended, so
            # however fast the store takes appends, only the slow watcher can fall behind.
            await _until(lambda v=script.version: hub.dropped > 0 or all(w.last >= v for w in fast))
            largest = max([largest, *hub.queue_sizes()])
            if hub.dropped:
                break
        assert hub.dropped == 1, "the slow watcher was never dropped"
        for _ in range(20):  # life goes on for the others
            await appender.append(script.bump())
        final.append(script.version)
        # Every fast watcher gets every update up to the last one, in order, exactly once.
        await _until(lambda: all(w.last >= final[0] for w in fast), rounds=6000)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for watcher in fast:
            received = [s for s in watcher.sequences() if s <= final[0]]
            assert received == list(range(1, final[0] + 1))

    # Memory stayed bounded: no queue ever held more than QUEUE_SIZE updates, and the dropped
    # watcher holds nothing.
    assert largest <= QUEUE_SIZE
    assert all(size <= QUEUE_SIZE for size in hub.queue_sizes())

    # The slow watcher, reading at last: updates in order, then Resume, then RESOURCE_EXHAUSTED.
    updates: list[live_pb2.GridUpdate] = []

    async def read_all() -> None:
        async for update in slow_call:
            updates.append(update)

    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await read_all()
    assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details_of(ended.value)
    *events, resume = updates
    assert resume.WhichOneof("update") == "resume"
    sequences = [u.sequence for u in events]
    assert all(u.WhichOneof("update") == "event" for u in events)
    assert sequences == list(range(1, len(sequences) + 1))
    assert resume.resume.from_version == resume.sequence == sequences[-1]
    assert sequences[-1] < final[0]
    await slow_channel.close()
    await _until(lambda: hub.watcher_count == 0)
