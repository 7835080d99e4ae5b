"""The broadcaster's composition root: the one place that builds concrete adapters.

``bootstrap(settings, feed=..., history=...)`` wires everything without connecting; ``start``
listens at once and connects and subscribes in the background (health is NOT_SERVING until
the feed is live, and again whenever it is reconnecting); ``stop`` ends every stream with
UNAVAILABLE and drains.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import EventStoreDBClientException

from services.broadcaster.adapters import fast_wire, wire
from services.broadcaster.adapters.esdb import EsdbGridHistory, EsdbIntegrationFeed
from services.broadcaster.application.cache import GridCache
from services.broadcaster.application.hub import Hub
from services.broadcaster.application.ports import GridHistory, IntegrationFeed
from services.broadcaster.application.watch import WatchGrid
from services.broadcaster.grpc.servicer import RoverLiveServicer
from services.broadcaster.settings import BroadcasterSettings
from services.common.grpc_server import GrpcServer
from services.common.logs import get_logger

__all__ = ["Broadcaster", "bootstrap"]

_log = get_logger(__name__)


@dataclass
class Broadcaster:
    """A wired broadcaster: its hub, its use case and its gRPC server."""

    settings: BroadcasterSettings
    hub: Hub[bytes]
    watch: WatchGrid[bytes]
    server: GrpcServer
    feed: IntegrationFeed
    client: AsyncEventStoreDBClient | None = None
    retry_initial: float = 0.1
    retry_max: float = 5.0
    _pump: asyncio.Task[None] | None = field(default=None, init=False)
    _health: asyncio.Task[None] | None = field(default=None, init=False)
    _health_changed: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        return self.server.port

    async def start(self) -> int:
        """Listen (NOT_SERVING) and connect the feed in the background; returns the bound port.

        Health turns SERVING once the feed is subscribed, NOT_SERVING while it reconnects. A
        watcher that arrives before the feed's first subscription waits for it.
        """
        port = await self.server.start(serving=self.hub.connected)
        self.hub.on_connected(lambda _: self._health_changed.set())
        self._health = asyncio.create_task(self._report_health(), name="broadcaster-health")
        self._pump = asyncio.create_task(self._run_feed(), name="broadcaster-feed")
        self._pump.add_done_callback(self._pump_ended)
        return port

    async def wait_live(self) -> None:
        """Return once the feed has subscribed (HubClosedError if stopped first)."""
        await self.hub.wait_live()

    async def _run_feed(self) -> None:
        delay = self.retry_initial
        while self.client is not None:
            try:
                await self.client.connect()  # a single node: no I/O; discovery may fail
                break
            except EventStoreDBClientException as error:
                _log.warning("event store unreachable; retrying", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
        await self.hub.pump(self.feed)

    async def _report_health(self) -> None:
        # One task applies the changes in order; it always reports the latest state.
        while True:
            await self._health_changed.wait()
            self._health_changed.clear()
            connected = self.hub.connected
            await self.server.set_serving(connected)
            _log.info("health", serving=connected)

    def _pump_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("integration feed failed", error=repr(task.exception()))
            self.hub.set_down()
            self.hub.close()  # streams end with UNAVAILABLE: clients resume elsewhere

    async def stop(self, grace: float | None = None) -> None:
        """End every stream with UNAVAILABLE, drain the server, close the store client."""
        self.hub.close()
        await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        for task in (self._pump, self._health):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.client is not None:
            await self.client.close()


def bootstrap(
    settings: BroadcasterSettings | None = None,
    *,
    feed: IntegrationFeed | None = None,
    history: GridHistory | None = None,
    fast_wire_assembly: bool = True,
) -> Broadcaster:
    """Wire a broadcaster; pass ``feed``/``history`` to replace the EventStoreDB adapters.

    ``fast_wire_assembly`` assembles each update around the stored event's bytes instead of
    decoding and serializing it again with protobuf (the same bytes).
    """
    settings = settings if settings is not None else BroadcasterSettings()
    client: AsyncEventStoreDBClient | None = None
    if feed is None or history is None:
        client = AsyncEventStoreDBClient(settings.eventstore_uri)
    if feed is None:
        assert client is not None
        feed = EsdbIntegrationFeed(client)
    if history is None:
        assert client is not None
        history = EsdbGridHistory(client, page_size=settings.broadcaster_history_page_size)
    hub: Hub[bytes] = Hub(
        fast_wire.encode_change if fast_wire_assembly else wire.encode_change,
        queue_size=settings.broadcaster_queue_size,
        cache=GridCache(capacity=settings.broadcaster_cache_grids),
    )
    watch = WatchGrid(hub, history, heartbeat_seconds=settings.broadcaster_heartbeat_seconds)
    servicer = RoverLiveServicer(watch)
    server = GrpcServer(settings.broadcaster_address, [servicer.service()])
    return Broadcaster(
        settings=settings, hub=hub, watch=watch, server=server, feed=feed, client=client
    )
