"""The command service's composition root: the only place that builds concrete adapters.

``build(settings, **overrides)`` wires the handlers, the publisher and the servicer around
EventStoreDB adapters, or around whichever ports a caller overrides (unit tests pass fakes).
Nothing connects here: the App's ``open`` step connects the client and provisions the consumer
groups; ``stop`` drains the server, stops the publisher and closes the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from protos.rover.v1 import command_pb2, command_pb2_grpc
from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_feed import EsdbDomainEventFeed
from services.command.adapters.esdb_lag import EsdbPublisherLag
from services.command.adapters.esdb_publishing import (
    EsdbCheckpointStore,
    EsdbIntegrationLog,
)
from services.command.adapters.esdb_requests import EsdbRequestLog
from services.command.adapters.esdb_store import EsdbEventStore, EsdbSnapshotStore
from services.command.adapters.pooled_appends import PooledAppender
from services.command.adapters.prometheus import register_command_metrics
from services.command.adapters.system import SystemClock, UuidGenerator
from services.command.application.executor import CommandExecutor, RetryPolicy
from services.command.application.handlers import Handlers
from services.command.application.ports import (
    CheckpointStore,
    Clock,
    DomainEventFeed,
    EventStore,
    IdGenerator,
    IntegrationLog,
    SnapshotStore,
)
from services.command.application.publisher import Publisher, PublisherSettings
from services.command.application.repository import GridRepository
from services.command.application.request_log import RequestLog, RequestLookup
from services.command.bootstrap_inbox import InboxParts, wire_inbox
from services.command.consumer_groups import ensure_consumer_groups, load_consumer_groups
from services.command.grpc.servicer import RoverCommandServicer
from services.command.settings import CommandSettings
from services.common import tracing
from services.common.app import App, Lifecycle, supervised
from services.common.esdb_client import LeaderFollowingClient
from services.common.esdb_cluster import warn_if_leader_unfollowable
from services.common.esdb_parked import EsdbParkedEvents
from services.common.grpc_server import GrpcServer, Service
from services.common.health_flag import HealthFlag
from services.common.integration_key_settings import announce_keys, integration_keys
from services.common.lease import LeaseTiming
from services.common.metrics import Metrics
from services.common.parked import InMemoryParkedEvents, ParkedEvents
from services.common.settings_text import env_name

__all__ = ["CommandApp", "CommandParts", "build"]

SERVICE_NAME = command_pb2.DESCRIPTOR.services_by_name["RoverCommandService"].full_name
PUBLISHER_HEALTH = f"{SERVICE_NAME}/publisher"  # NOT_SERVING: the checkpoint is not trusted
PARKED_HEALTH = f"{SERVICE_NAME}/parked"  # NOT_SERVING: the publisher has parked events
INBOX_HEALTH = f"{SERVICE_NAME}/inbox"  # SERVING: this instance consumes the command inbox
_HEALTH_EVERY = 0.5  # seconds between looks at the publisher's state (in memory: cheap)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandParts:
    """The wired use cases and the ports they run on."""

    handlers: Handlers
    executor: CommandExecutor
    repository: GridRepository
    publisher: Publisher
    publisher_lag: EsdbPublisherLag | None
    events: EventStore
    snapshots: SnapshotStore
    feed: DomainEventFeed
    integration: IntegrationLog
    checkpoints: CheckpointStore
    parked: ParkedEvents
    inbox: InboxParts | None = None  # None: no command inbox (disabled, or a unit test's fakes)


CommandApp = App[CommandParts]


def build(
    settings: CommandSettings,
    *,
    events: EventStore | None = None,
    snapshots: SnapshotStore | None = None,
    feed: DomainEventFeed | None = None,
    integration: IntegrationLog | None = None,
    checkpoints: CheckpointStore | None = None,
    parked: ParkedEvents | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    pooled_appends: bool | None = None,
    requests: RequestLog | None = None,
) -> CommandApp:
    """Wire the command service; every port not overridden is EventStoreDB's.

    ``pooled_appends`` (default: ``settings.command_pooled_appends``) appends over kept-open
    BatchAppend calls (``adapters/pooled_appends``) instead of esdbclient's append_to_stream.
    """
    lifecycle = Lifecycle()
    client: LeaderFollowingClient | None = None
    appender: Appender | None = None
    if None in (events, snapshots, feed, integration, checkpoints):
        client = LeaderFollowingClient(settings.eventstore_uri)  # connects in open()
        timeout = settings.eventstore_timeout_seconds
        if pooled_appends is None:
            pooled_appends = settings.command_pooled_appends
        # One appender for both writers (one pool of open BatchAppend calls when pooled).
        pooled = PooledAppender(client) if pooled_appends else None
        appender = pooled or StockAppender(client)

        async def connect() -> None:
            await client.connect()
            await warn_if_leader_unfollowable(client)
            if pooled is not None:
                pooled.start()  # checks esdbclient's internals; else the stock path, one warning
            # Downstream consumers only need a group name: the publisher's owner provisions
            # the groups on integration-* (created when missing, updated when changed).
            await ensure_consumer_groups(client, load_consumer_groups())

        async def close() -> None:
            appender.close()
            await client.close()

        lifecycle.open.append(connect)
        lifecycle.close.append(close)
        if events is None:
            events = EsdbEventStore(client, timeout=timeout, appender=appender)
        if snapshots is None:
            snapshots = EsdbSnapshotStore(client, timeout=timeout)
        if feed is None:
            feed = EsdbDomainEventFeed(client)
        keys = integration_keys(settings)  # signs integration events and request records
        lifecycle.background.append(("integration-keys", partial(announce_keys, keys, "command")))
        if integration is None:
            integration = EsdbIntegrationLog(client, timeout=timeout, appender=appender, keys=keys)
        if checkpoints is None:
            stream = settings.publisher_checkpoint_stream
            checkpoints = EsdbCheckpointStore(
                client, stream, timeout=timeout, ttl=settings.publisher_lease_seconds
            )
        if parked is None:
            parked = EsdbParkedEvents(client, timeout=timeout)
        if requests is None:
            retention = timedelta(hours=settings.command_request_retention_hours)
            requests = EsdbRequestLog(
                client, integration, retention, timeout=timeout, appender=appender, keys=keys
            )
    if parked is None:  # every store port overridden: a unit test's fakes
        parked = InMemoryParkedEvents()
    assert events is not None
    assert snapshots is not None
    assert feed is not None
    assert integration is not None
    assert checkpoints is not None
    ids = ids or UuidGenerator()
    repository = GridRepository(
        events,
        snapshots,
        cache_size=settings.command_cache_size,
        cache_footprint=settings.command_cache_footprint,
        request_window=settings.command_request_window,
        snapshot_interval=settings.snapshot_interval,
    )
    retry = RetryPolicy(
        max_attempts=settings.command_max_attempts,
        base_delay=settings.command_retry_base_ms / 1000,
        max_delay=settings.command_retry_max_ms / 1000,
    )
    clock = clock or SystemClock()
    lookup = None
    if requests is not None:
        retention = timedelta(hours=settings.command_request_retention_hours)
        lookup = RequestLookup(requests, clock, retention)
    executor = CommandExecutor(repository, events, clock, ids, retry=retry, requests=lookup)
    publisher = Publisher(
        feed,
        integration,
        checkpoints,
        PublisherSettings(
            max_batch=settings.publisher_max_batch,
            concurrency=settings.publisher_concurrency,
            max_pending=settings.publisher_max_pending,
            append_attempts=settings.publisher_append_attempts,
            checkpoint_every=settings.publisher_checkpoint_every,
            checkpoint_interval=settings.publisher_checkpoint_seconds,
            lease=LeaseTiming.for_ttl(settings.publisher_lease_seconds),
        ),
        parked=parked,
        requests=requests,
    )
    handlers = Handlers(executor, ids)
    metrics = Metrics(
        settings.command_metrics_address,
        setting=env_name(CommandSettings, "command_metrics_address"),
    )
    lag: EsdbPublisherLag | None = None
    if settings.publisher_enabled:
        lifecycle.background.append(("publisher", publisher.run_forever))

        async def health() -> None:
            with tracing.untraced():
                await _publisher_health(publisher, app.server)

        lifecycle.background.append(("publisher-health", health))
        if client is not None and metrics.enabled:
            lag = EsdbPublisherLag(
                client,
                publisher,
                interval=settings.publisher_lag_interval_seconds,
                cap=settings.publisher_lag_count_cap,
            )
            lifecycle.background.append(("publisher-lag", _supervised_lag(lag, settings)))
    inbox = None
    if client is not None and appender is not None and settings.command_inbox_enabled:
        inbox = wire_inbox(
            lifecycle,
            metrics,
            settings,
            client=client,
            appender=appender,
            handlers=handlers,
            server=lambda: app.server,
            health_name=INBOX_HEALTH,
        )
    register_command_metrics(metrics, executor, publisher, lag, inbox and inbox.stats)
    # After the server and the publisher stopped, before the client closes.
    lifecycle.close.append(repository.drain)
    servicer = RoverCommandServicer(handlers, inbox and inbox.writer, inbox and inbox.replies)
    service = Service(
        SERVICE_NAME,
        lambda server: command_pb2_grpc.add_RoverCommandServiceServicer_to_server(servicer, server),
    )
    parts = CommandParts(
        handlers=handlers,
        executor=executor,
        repository=repository,
        publisher=publisher,
        publisher_lag=lag,
        events=events,
        snapshots=snapshots,
        feed=feed,
        integration=integration,
        checkpoints=checkpoints,
        parked=parked,
        inbox=inbox,
    )
    app = App(
        "command",
        settings,
        address=settings.command_address,
        services=[service],
        parts=parts,
        lifecycle=lifecycle,
        metrics=metrics,
    )
    return app


async def _publisher_health(publisher: Publisher, server: GrpcServer) -> None:
    """Health ``.../publisher`` (checkpoint trusted) and ``.../parked`` (nothing parked)."""
    checkpoint, parked = HealthFlag(server, PUBLISHER_HEALTH), HealthFlag(server, PARKED_HEALTH)
    while True:
        await checkpoint.report(publisher.guard.problem is None)
        await parked.report(publisher.held.count == 0)
        await asyncio.sleep(_HEALTH_EVERY)


def _supervised_lag(lag: EsdbPublisherLag, settings: CommandSettings) -> Callable[[], Any]:
    async def measure() -> None:
        with tracing.untraced():  # a check every interval: no trace of its own each time
            await supervised("publisher-lag", lag.run, settings.publisher_lag_interval_seconds)

    return measure
