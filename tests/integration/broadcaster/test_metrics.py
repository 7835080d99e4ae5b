"""The broadcaster's /metrics over HTTP: watchers, updates, heartbeats, cut-offs, the feed."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from domain.values import GridId
from protos.rover.v1 import live_pb2, live_pb2_grpc
from services.broadcaster.application.watch import FellBehind, Snapshot
from tests.integration.broadcaster.conftest import StartBroadcaster
from tests.integration.broadcaster.helpers import SAFETY, Appender, new_grid_id
from tests.support.metrics import scrape, scrape_until
from tests.unit.broadcaster.scripts import GridScript

pytestmark = pytest.mark.slow


async def _update(call: grpc.aio.UnaryStreamCall[Any, Any]) -> live_pb2.GridUpdate:
    update = await call.read()
    assert isinstance(update, live_pb2.GridUpdate)
    return update


async def test_watchers_updates_heartbeats_and_cut_offs_move_their_metrics(
    appender: Appender, start_broadcaster: StartBroadcaster
) -> None:
    broadcaster = await start_broadcaster(
        broadcaster_metrics_address="127.0.0.1:0",
        broadcaster_heartbeat_seconds=0.1,
        broadcaster_queue_size=1,
    )
    url = broadcaster.metrics.url
    script = GridScript(new_grid_id("metrics"), rovers=1)
    await appender.append(script.next())  # GridCreated
    start = await scrape(url)
    assert start.value("rover_broadcaster_feed_live") == 1
    assert start.value("rover_watchers_connected") == 0
    assert start.value("rover_parked_events", consumer="broadcaster") == 0

    async with grpc.aio.insecure_channel(f"127.0.0.1:{broadcaster.port}") as channel:
        call = live_pb2_grpc.RoverLiveServiceStub(channel).WatchGrid(
            live_pb2.WatchGridRequest(grid_id=script.grid_id), timeout=SAFETY
        )
        first = await call.read()
        assert isinstance(first, live_pb2.GridUpdate)
        assert first.WhichOneof("update") == "snapshot"
        watching = await scrape(url)
        assert watching.value("rover_watchers_connected") == 1
        assert watching.value("rover_watch_updates_sent_total") == 1
        assert (
            watching.value(
                "grpc_server_started_total",
                grpc_type="server_stream",
                grpc_service="rover.v1.RoverLiveService",
                grpc_method="WatchGrid",
            )
            == 1
        )
        # Idle: a heartbeat comes, and is counted.
        assert (await _update(call)).WhichOneof("update") == "heartbeat"
        assert (await scrape(url)).value("rover_watch_heartbeats_total") >= 1
        # An event: one more update sent.
        await appender.append(script.next())
        while (await _update(call)).WhichOneof("update") == "heartbeat":
            pass
        assert (await scrape(url)).value("rover_watch_updates_sent_total") == 2
        call.cancel()
        gone = await scrape_until(url, lambda s: s.value("rover_watchers_connected") == 0)
        assert gone.value("rover_watchers_cut_off_total", reason="slow") == 0

    # A watcher that does not take its updates (queue of one) is cut off as slow.
    watch = broadcaster.parts.watch
    stream = watch.watch(GridId(script.grid_id), None)
    assert isinstance(await anext(stream), Snapshot)  # subscribed, and not reading
    for _ in range(3):
        await appender.append(script.next())
    cut = await scrape_until(
        url, lambda s: s.value("rover_watchers_cut_off_total", reason="slow") == 1
    )
    assert isinstance(await anext(stream), FellBehind)
    await stream.aclose()
    assert cut.value("rover_watchers_cut_off_total", reason="gap") == 0
    ended = await scrape_until(
        url,
        lambda s: (
            s.value(
                "grpc_server_handled_total",
                grpc_type="server_stream",
                grpc_service="rover.v1.RoverLiveService",
                grpc_method="WatchGrid",
                grpc_code="CANCELLED",
            )
            == 1
        ),
    )
    assert ended.value("rover_watchers_connected") == 0
