"""The broadcaster's composition root: the one place that builds concrete adapters.

``bootstrap(settings, feed=..., history=...)`` wires everything without connecting; ``start``
connects, subscribes and listens; ``stop`` ends every stream with UNAVAILABLE and drains.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from esdbclient import AsyncEventStoreDBClient

from services.broadcaster.adapters.esdb import EsdbGridHistory, EsdbIntegrationFeed
from services.broadcaster.application.cache import GridCache
from services.broadcaster.application.hub import Hub
from services.broadcaster.application.ports import GridHistory, IntegrationFeed
from services.broadcaster.application.watch import WatchGrid
from services.broadcaster.grpc.mapping import encode_change
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
    _pump: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        return self.server.port

    async def start(self) -> int:
        """Connect to the store, start the feed and serve; returns the bound port."""
        if self.client is not None:
            await self.client.connect()
        self._pump = asyncio.create_task(self.hub.pump(self.feed), name="broadcaster-feed")
        self._pump.add_done_callback(self._pump_ended)
        await self.hub.wait_live()
        return await self.server.start()

    def _pump_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("integration feed failed", error=repr(task.exception()))
            self.hub.close()  # streams end with UNAVAILABLE: clients resume elsewhere

    async def stop(self, grace: float | None = None) -> None:
        """End every stream with UNAVAILABLE, drain the server, close the store client."""
        self.hub.close()
        await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self.client is not None:
            await self.client.close()


def bootstrap(
    settings: BroadcasterSettings | None = None,
    *,
    feed: IntegrationFeed | None = None,
    history: GridHistory | None = None,
) -> Broadcaster:
    """Wire a broadcaster; pass ``feed``/``history`` to replace the EventStoreDB adapters."""
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
        encode_change,
        queue_size=settings.broadcaster_queue_size,
        cache=GridCache(capacity=settings.broadcaster_cache_grids),
    )
    watch = WatchGrid(hub, history, heartbeat_seconds=settings.broadcaster_heartbeat_seconds)
    servicer = RoverLiveServicer(watch)
    server = GrpcServer(settings.broadcaster_address, [servicer.service()])
    return Broadcaster(
        settings=settings, hub=hub, watch=watch, server=server, feed=feed, client=client
    )
