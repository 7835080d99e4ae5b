"""The query service's composition root: ``build(settings, **overrides) -> App``.

Redis read model and EventStoreDB feed unless overridden (tests pass fakes or their own);
nothing connects here: the App's ``open`` step connects the store client, Redis connects on
first use. While serving, the projector and the projection-lag monitor run in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import grpc
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from protos.rover.v1 import admin_pb2, admin_pb2_grpc, query_pb2, query_pb2_grpc
from services.common import tracing
from services.common.app import App, Lifecycle, supervised
from services.common.esdb_client import LeaderFollowingClient
from services.common.esdb_cluster import warn_if_leader_unfollowable
from services.common.esdb_parked import EsdbParkedEvents
from services.common.grpc_server import GrpcServer, Service
from services.common.health_flag import HealthFlag
from services.common.integration_key_settings import announce_keys, integration_keys
from services.common.lease import Lease, LeaseTiming, hold_and_run
from services.common.logs import get_logger
from services.common.memory_lease import InMemoryLease
from services.common.metrics import Metrics
from services.common.parked import PROJECTOR, InMemoryParkedEvents, ParkedEvents
from services.common.settings_text import env_name
from services.common.store_errors import StoreUnavailableError
from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.esdb_inbox_group import EsdbInboxProgress
from services.query.adapters.esdb_publisher import EsdbPublisherProgress
from services.query.adapters.memory import InMemoryPublisherProgress
from services.query.adapters.prometheus import register_query_metrics
from services.query.adapters.redis_cluster_model import RedisClusterReadModel
from services.query.adapters.redis_connect import connect
from services.query.adapters.redis_lease import RedisLease, lease_holder, rebuild_lease_key
from services.query.adapters.redis_read_model import RedisReadModel, lease_key
from services.query.application.audit import Auditor
from services.query.application.errors import ReadModelUnavailableError
from services.query.application.lag import LagLog, ProjectionLag, measure_lag
from services.query.application.parked import ParkedReplays
from services.query.application.parked_replay import ParkedReplay
from services.query.application.ports import (
    EventFeed,
    InboxProgress,
    PublisherProgress,
    ReadModel,
)
from services.query.application.projector import BatchOutcome, Projector
from services.query.application.queries import Queries, parse_grid_id
from services.query.application.rebuild import RebuildProgress
from services.query.application.rebuild_once import ExclusiveRebuild
from services.query.application.repair import repair_grid
from services.query.application.subscriptions import Subscriptions
from services.query.application.watch import VersionWatch
from services.query.dto import decode_view
from services.query.grpc.admin import AdminServicer, AdminUseCases
from services.query.grpc.fast_details import StoredDetailsServicer, add_stored_details_servicer
from services.query.grpc.servicer import QueryServicer
from services.query.settings import QuerySettings

__all__ = ["QueryApp", "build"]

_log = get_logger(__name__)
SERVICE_NAME = query_pb2.DESCRIPTOR.services_by_name["RoverQueryService"].full_name
ADMIN_SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["RoverAdminService"].full_name
# Health service name that reports whether the projection keeps up with the store.
PROJECTION_HEALTH = "rover.v1.RoverQueryService/projection"
# Health service name that is NOT_SERVING while the projector has unresolved parked events.
PARKED_HEALTH = "rover.v1.RoverQueryService/parked"


@dataclass(slots=True, kw_only=True)
class QueryParts:
    """The wired read side: its ports, use cases, projector and the last measured lag."""

    read_model: ReadModel
    feed: EventFeed
    watch: VersionWatch
    queries: Queries
    projector: Projector
    parked: ParkedEvents
    lag: ProjectionLag | None = field(default=None)
    projecting: bool = False  # whether this instance holds the projector's lease
    rebuild: RebuildProgress | None = None  # an admin rebuild running here, and how far
    rebuilds: ExclusiveRebuild | None = None  # what starts admin rebuilds (one at a time)
    events_applied: int = 0  # by the live projector of this process (a metric)
    parked_count: int = 0  # the projector's unresolved parked events, as last counted

    def count_batch(self, outcome: BatchOutcome) -> None:
        """The live projector's on_batch: count what it applied."""
        self.events_applied += outcome.applied


QueryApp = App[QueryParts]


async def _monitor(parts: QueryParts, server: GrpcServer, settings: QuerySettings) -> None:
    flag = HealthFlag(server, PROJECTION_HEALTH)
    log_policy = LagLog(every=settings.query_lag_log_seconds)
    while True:
        try:
            lag = await measure_lag(parts.feed, parts.read_model, cap=settings.query_lag_count_cap)
        except ReadModelUnavailableError as error:  # an outage: measured again when it answers
            _log.warning("read model unreachable; projection lag unknown", error=str(error))
            await flag.report(False)
            await asyncio.sleep(settings.query_lag_interval_seconds)
            continue
        parts.lag = lag
        if log_policy.due(lag):
            _log.info("projection lag", **lag.as_fields())
        await flag.report(lag.events_behind < settings.query_lag_unhealthy_events)
        await asyncio.sleep(settings.query_lag_interval_seconds)


async def _count_parked(parts: QueryParts, server: GrpcServer, settings: QuerySettings) -> None:
    flag = HealthFlag(server, PARKED_HEALTH)
    while True:
        try:
            parts.parked_count = await parts.parked.count(PROJECTOR)
        except StoreUnavailableError as error:  # an outage: the lag monitor says so too
            _log.warning("cannot count parked events yet", error=str(error))
        else:
            await flag.report(parts.parked_count == 0)
        await asyncio.sleep(settings.query_lag_interval_seconds)


def build(
    settings: QuerySettings,
    *,
    read_model: ReadModel | None = None,
    feed: EventFeed | None = None,
    parked: ParkedEvents | None = None,
    projector_lease: Lease | None = None,
    publisher: PublisherProgress | None = None,
    fast_projection: bool = True,
    fast_details: bool = True,
    coalesce_reads: bool = True,
) -> QueryApp:
    """Wire the query service; Redis and EventStoreDB for the ports not overridden.

    ``fast_projection`` projects rover events straight off their messages (the plain path
    decodes every event and projects its envelope). ``fast_details`` answers GetGridDetails
    with the read model's stored bytes (the plain path parses them into a GridDetails).
    ``coalesce_reads`` lets concurrent GetGridDetails share one Redis round trip
    (adapters/coalesced_reads.py; the plain path makes one script call per request).

    The live projector runs while this instance holds ``projector_lease`` (default: a Redis
    key beside the read model that its commits are fenced by; an in-memory one when the read
    model is overridden), so one instance projects at a time.

    ``parked`` keeps the events the projector cannot project (default: EventStoreDB's
    ``rover-parked-projector`` stream; in memory when the feed is overridden); their count
    is ``parts.parked_count`` and the health name ``PARKED_HEALTH``.
    """
    lifecycle = Lifecycle()
    lease: Lease | None = projector_lease
    ttl = settings.query_projector_lease_seconds
    rebuild_lease: Lease = InMemoryLease(ttl=ttl)
    inbox: InboxProgress | None = None  # the command inbox's group: read from the store

    async def projector_holder() -> str:
        return lease.current_holder() if lease else ""

    if read_model is None:
        clients = connect(settings.redis_url)  # lazy pools; Sentinel or Cluster per the URL
        client = clients.text
        tagged = isinstance(client, RedisCluster)  # the cluster's key layout (redis_keys.py)
        redis_lease = RedisLease(
            client,
            lease_key(settings.redis_key_prefix, tagged=tagged),
            ttl=settings.query_projector_lease_seconds,
        )
        lease = lease or redis_lease
        redis_model: RedisReadModel
        if isinstance(client, RedisCluster):
            assert isinstance(clients.raw, RedisCluster)
            redis_model = RedisClusterReadModel(
                client,
                settings.redis_key_prefix,
                raw=clients.raw,
                coalesce_reads=coalesce_reads,
                lease=redis_lease,
            )
        else:
            assert isinstance(clients.raw, Redis)
            redis_model = RedisReadModel(
                client,
                settings.redis_key_prefix,
                coalesce_reads=coalesce_reads,
                lease=redis_lease,
                raw=clients.raw,
            )
        lifecycle.close.append(clients.close)
        read_model = redis_model
        rebuild_lease = RedisLease(
            client, rebuild_lease_key(settings.redis_key_prefix, tagged=tagged), ttl=ttl
        )
        projector_holder = partial(lease_holder, client, redis_lease.key)
    if feed is None:
        keys = integration_keys(settings)
        lifecycle.background.append(("integration-keys", partial(announce_keys, keys, "query")))
        store = LeaderFollowingClient(settings.eventstore_uri)
        lifecycle.open.append(store.connect)
        lifecycle.open.append(partial(warn_if_leader_unfollowable, store))
        lifecycle.close.append(store.close)
        feed = EsdbEventFeed(
            store,
            buffer=settings.query_feed_buffer,
            linger_seconds=settings.query_catchup_linger_seconds,
            fast_projection=fast_projection,
            keys=keys,
        )
        parked = parked or EsdbParkedEvents(store)
        publisher = publisher or EsdbPublisherProgress(store, settings.publisher_checkpoint_stream)
        inbox = EsdbInboxProgress(store, settings.command_inbox_group)
    parked = parked if parked is not None else InMemoryParkedEvents()
    watch = VersionWatch()
    queries = Queries(
        read_model,
        watch=watch,
        max_wait_seconds=settings.query_min_version_wait_seconds,
        poll_seconds=settings.query_min_version_poll_seconds,
    )
    projector = Projector(
        feed,
        read_model,
        batch_size=settings.query_batch_size,
        watch=watch,
        rewind_check_seconds=settings.query_rewind_check_seconds,
        parked=parked,
    )
    parts = QueryParts(
        read_model=read_model,
        feed=feed,
        watch=watch,
        queries=queries,
        projector=projector,
        parked=parked,
    )
    register: Callable[[grpc.aio.Server], None]
    if fast_details:
        register = partial(add_stored_details_servicer, StoredDetailsServicer(queries))
    else:  # the plain path: the generated registration, GetGridDetails parsed and re-serialised
        servicer = QueryServicer(queries)
        register = partial(query_pb2_grpc.add_RoverQueryServiceServicer_to_server, servicer)
    service = Service(SERVICE_NAME, register)

    def rebuilding(progress: RebuildProgress | None) -> None:
        parts.rebuild = progress

    rebuilds = ExclusiveRebuild(
        feed,
        read_model,
        rebuild_lease,
        batch_size=settings.query_batch_size,
        renew_every=LeaseTiming.for_ttl(ttl).renew_every,
        on_progress=rebuilding,
        parked=parked,
    )
    lifecycle.close.insert(0, rebuilds.close)
    parts.rebuilds = rebuilds
    admin = AdminServicer(
        AdminUseCases(
            subscriptions=Subscriptions(
                feed=feed,
                read_model=read_model,
                publisher=publisher or InMemoryPublisherProgress(),
                parked=parked,
                projector_holder=projector_holder,
                cap=settings.query_lag_count_cap,
                inbox=inbox,
            ),
            rebuilds=rebuilds,
            auditor=Auditor(feed, read_model, decode_view),
            repair=partial(repair_grid, feed, read_model, watch=watch),
            parked=ParkedReplay(ParkedReplays(parked, feed, read_model, watch=watch)),
            parse_grid_id=parse_grid_id,
        )
    )
    admin_service = Service(
        ADMIN_SERVICE_NAME, partial(admin_pb2_grpc.add_RoverAdminServiceServicer_to_server, admin)
    )
    metrics = Metrics(
        settings.query_metrics_address,
        setting=env_name(QuerySettings, "query_metrics_address"),
    )
    register_query_metrics(metrics, parts)
    app = App(
        "query",
        settings,
        address=settings.query_address,
        services=[service, admin_service],
        parts=parts,
        lifecycle=lifecycle,
        metrics=metrics,
    )
    retry = settings.query_retry_seconds
    if settings.query_projector_enabled:
        held = lease or InMemoryLease(ttl=settings.query_projector_lease_seconds)
        timing = LeaseTiming.for_ttl(settings.query_projector_lease_seconds)

        async def project_while_held() -> None:
            await supervised(
                "projector",
                lambda: projector.run(retry_seconds=retry, on_batch=parts.count_batch),
                retry,
            )

        def changed(active: bool) -> None:
            parts.projecting = active

        async def project() -> None:
            await supervised(
                "projector-lease",
                lambda: hold_and_run(
                    "projector", held, project_while_held, timing, on_change=changed
                ),
                retry,
            )

        lifecycle.background.append(("projector", project))

    async def monitor() -> None:
        with tracing.untraced():  # a check every interval: no trace of its own each time
            await supervised("lag-monitor", lambda: _monitor(parts, app.server, settings), retry)

    lifecycle.background.append(("lag-monitor", monitor))

    async def count_parked() -> None:
        with tracing.untraced():
            await supervised(
                "parked-monitor", lambda: _count_parked(parts, app.server, settings), retry
            )

    lifecycle.background.append(("parked-monitor", count_parked))
    return app
