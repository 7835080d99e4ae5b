"""The broadcaster's composition root: ``build(settings, **overrides) -> App``.

Nothing connects here. ``start`` listens at once (NOT_SERVING) and connects and subscribes in
the background: health turns SERVING once the feed is live and NOT_SERVING whenever it is
reconnecting; ``stop`` ends every stream with UNAVAILABLE, then drains.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from esdbclient import AsyncEventStoreDBClient
from esdbclient.exceptions import EventStoreDBClientException

from services.broadcaster.adapters import fast_wire, wire
from services.broadcaster.adapters.esdb import EsdbGridHistory, EsdbIntegrationFeed
from services.broadcaster.adapters.prometheus import register_broadcaster_metrics
from services.broadcaster.application.cache import GridCache
from services.broadcaster.application.hub import Hub, HubClosedError
from services.broadcaster.application.ports import GridHistory, IntegrationFeed
from services.broadcaster.application.watch import WatchGrid
from services.broadcaster.grpc.fast_updates import PreSerializedLiveServicer
from services.broadcaster.grpc.servicer import RoverLiveServicer
from services.broadcaster.settings import BroadcasterSettings
from services.common.app import App, Lifecycle
from services.common.esdb_client import LeaderFollowingClient
from services.common.esdb_cluster import warn_if_leader_unfollowable
from services.common.esdb_parked import EsdbParkedEvents
from services.common.grpc_server import GrpcServer
from services.common.health_flag import HealthFlag
from services.common.integration_key_settings import announce_keys, integration_keys
from services.common.integration_signing import IntegrationKeys
from services.common.logs import get_logger
from services.common.metrics import Metrics
from services.common.parked import InMemoryParkedEvents, ParkedEvents
from services.common.settings_text import env_name
from services.common.store_errors import StoreUnavailableError

__all__ = ["BroadcasterApp", "build"]

_log = get_logger(__name__)
_RETRY_INITIAL, _RETRY_MAX = 0.1, 5.0
PARKED_HEALTH = "rover.v1.RoverLiveService/parked"
"""Health service name that is NOT_SERVING while the broadcaster has unresolved parked events."""
PARKED_CHECK_SECONDS = 1.0  # how often the parked events are counted again


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcasterParts:
    """The wired broadcaster: its hub (one feed fanned out), its use case and its ports."""

    hub: Hub[bytes]
    watch: WatchGrid[bytes]
    feed: IntegrationFeed
    history: GridHistory
    parked: ParkedEvents

    @property
    def parked_count(self) -> int:
        """The broadcaster's unresolved parked events, as last counted."""
        return self.hub.parked_count


BroadcasterApp = App[BroadcasterParts]


async def _connect(client: AsyncEventStoreDBClient) -> None:
    delay = _RETRY_INITIAL
    while True:
        try:
            await client.connect()  # a single node: no I/O; discovery may fail
            await warn_if_leader_unfollowable(client)
            return
        except EventStoreDBClientException as error:
            _log.warning("event store unreachable; retrying", error=repr(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)


def build(
    settings: BroadcasterSettings,
    *,
    feed: IntegrationFeed | None = None,
    history: GridHistory | None = None,
    parked: ParkedEvents | None = None,
    fast_wire_assembly: bool = True,
    fast_updates: bool = True,
) -> BroadcasterApp:
    """Wire a broadcaster; EventStoreDB for the ports not overridden.

    ``fast_wire_assembly`` assembles each update around the stored event's bytes instead of
    decoding and serializing it again with protobuf (the same bytes). ``fast_updates`` sends
    those bytes as they are (the plain servicer yields GridUpdate messages, parsed from them).
    ``parked`` keeps the events the feed cannot decode or fold (default: EventStoreDB's
    ``rover-parked-broadcaster`` stream; in memory when the feed and history are overridden).
    """
    client: AsyncEventStoreDBClient | None = None
    keys = IntegrationKeys()
    if feed is None or history is None:
        client = LeaderFollowingClient(settings.eventstore_uri)
        keys = integration_keys(settings)
    if feed is None:
        assert client is not None
        feed = EsdbIntegrationFeed(client, keys=keys)
    if history is None:
        assert client is not None
        history = EsdbGridHistory(
            client, page_size=settings.broadcaster_history_page_size, keys=keys
        )
    if parked is None:
        parked = EsdbParkedEvents(client) if client is not None else InMemoryParkedEvents()
    hub: Hub[bytes] = Hub(
        fast_wire.encode_change if fast_wire_assembly else wire.encode_change,
        queue_size=settings.broadcaster_queue_size,
        cache=GridCache(capacity=settings.broadcaster_cache_grids),
        parked=parked,
    )
    watch = WatchGrid(hub, history, heartbeat_seconds=settings.broadcaster_heartbeat_seconds)
    servicer = (PreSerializedLiveServicer if fast_updates else RoverLiveServicer)(watch)
    lifecycle = Lifecycle(serving_at_start=lambda: hub.connected)
    if client is not None:
        lifecycle.background.append(
            ("integration-keys", partial(announce_keys, keys, "broadcaster"))
        )
    parts = BroadcasterParts(hub=hub, watch=watch, feed=feed, history=history, parked=parked)
    metrics = Metrics(
        settings.broadcaster_metrics_address,
        setting=env_name(BroadcasterSettings, "broadcaster_metrics_address"),
    )
    register_broadcaster_metrics(metrics, hub, watch, lambda: parts.parked_count)
    app = App(
        "broadcaster",
        settings,
        address=settings.broadcaster_address,
        services=[servicer.service()],
        parts=parts,
        lifecycle=lifecycle,
        metrics=metrics,
    )
    health_changed = asyncio.Event()
    hub.on_connected(lambda _: health_changed.set())

    async def pump() -> None:
        try:
            if client is not None:
                await _connect(client)
            await hub.pump(feed)
        except Exception as error:
            _log.error("integration feed failed", error=repr(error))
            hub.set_down()
            hub.close()  # streams end with UNAVAILABLE: clients resume elsewhere

    async def report_health(server: GrpcServer = app.server) -> None:
        # One task applies the changes in order; it always reports the latest state.
        while True:
            await health_changed.wait()
            health_changed.clear()
            connected = hub.connected
            await server.set_serving(connected)
            _log.info("health", serving=connected)

    async def count_parked(server: GrpcServer = app.server) -> None:
        flag = HealthFlag(server, PARKED_HEALTH)
        try:
            await hub.wait_live()  # the store client is connected by then
        except HubClosedError:
            return
        while True:
            try:
                await flag.report(await hub.count_parked() == 0)
            except StoreUnavailableError as error:
                _log.warning("cannot count parked events yet", error=str(error))
            await asyncio.sleep(PARKED_CHECK_SECONDS)

    async def end_streams() -> None:
        hub.close()

    lifecycle.background += [
        ("health", report_health),
        ("feed", pump),
        ("parked-monitor", count_parked),
    ]
    lifecycle.before_stop.append(end_streams)
    if client is not None:
        lifecycle.close.append(client.close)
    return app
