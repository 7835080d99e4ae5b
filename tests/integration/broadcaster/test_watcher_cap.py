"""The broadcaster as built from its settings: its connections' limits and its watcher cap."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from protos.rover.v1 import live_pb2, live_pb2_grpc
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import SAFETY, Appender, new_grid_id
from tests.support.http2 import MAX_CONCURRENT_STREAMS, advertised_settings
from tests.support.refusals import assert_refusal
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow


async def test_a_client_with_too_many_watchers_is_refused(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster(max_watchers_per_client=2)
    script = GridScript(new_grid_id("cap"), rovers=0)
    await appender.append(script.bump())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{broadcaster.port}") as channel:
        stub = live_pb2_grpc.RoverLiveServiceStub(channel)
        request = live_pb2.WatchGridRequest(grid_id=script.grid_id, from_version=0)
        calls = [stub.WatchGrid(request, timeout=SAFETY) for _ in range(2)]
        for call in calls:  # both open: each has its first update
            first = await call.read()
            assert isinstance(first, live_pb2.GridUpdate)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.WatchGrid(request, timeout=SAFETY).read()
        for call in calls:
            call.cancel()
    assert_refusal(
        caught.value,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "ROVER_MAX_WATCHERS_PER_CLIENT",
        "TOO_MANY_WATCHERS",
    )


async def test_the_connection_limits_come_from_the_settings(
    start_broadcaster: StartBroadcaster,
) -> None:
    broadcaster = await start_broadcaster(grpc_max_concurrent_streams=7)
    settings = await asyncio.to_thread(advertised_settings, f"127.0.0.1:{broadcaster.port}")
    assert settings[MAX_CONCURRENT_STREAMS] == 7
