"""Run the query service: gRPC server, background projector and projection-lag monitor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from grpc_health.v1 import health_pb2

from protos.rover.v1 import query_pb2
from services.common.grpc_server import GrpcServer, Service
from services.common.logs import get_logger
from services.query.application.lag import ProjectionLag, measure_lag
from services.query.bootstrap import QueryApp
from services.query.grpc.servicer import add_query_servicer

__all__ = ["PROJECTION_HEALTH", "RunningQueryService", "serve"]

_log = get_logger(__name__)

# Health service name that reports whether the projection keeps up with the store.
PROJECTION_HEALTH = "rover.v1.RoverQueryService/projection"
_SERVICE = query_pb2.DESCRIPTOR.services_by_name["RoverQueryService"].full_name


@dataclass
class RunningQueryService:
    """A started query service: its port, the app and the last measured lag."""

    app: QueryApp
    server: GrpcServer
    port: int
    lag: ProjectionLag | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _supervise(name: str, run: Callable[[], Awaitable[None]], retry_seconds: float) -> None:
    """Keep a background loop alive: log a failure, pause, start it again."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("background task failed; restarting", task=name)
            await asyncio.sleep(retry_seconds)


async def _monitor(running: RunningQueryService) -> None:
    settings = running.app.settings
    serving = None
    while True:
        lag = await measure_lag(
            running.app.feed, running.app.read_model, cap=settings.query_lag_count_cap
        )
        running.lag = lag
        _log.info("projection lag", **lag.as_fields())
        healthy = lag.events_behind < settings.query_lag_unhealthy_events
        if healthy != serving:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if healthy
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            await running.server.health.set(PROJECTION_HEALTH, status)
            serving = healthy
        await asyncio.sleep(settings.query_lag_interval_seconds)


@contextlib.asynccontextmanager
async def serve(app: QueryApp, *, address: str | None = None) -> AsyncIterator[RunningQueryService]:
    """Serve RoverQueryService (and run the projector when enabled) until the block exits."""
    settings = app.settings
    server = GrpcServer(
        address or settings.query_address,
        [
            Service(
                _SERVICE,
                lambda s: add_query_servicer(app.servicer, s),
            )
        ],
    )
    port = await server.start()
    running = RunningQueryService(app, server, port)
    retry = settings.query_retry_seconds
    if settings.query_projector_enabled:
        running.tasks.append(
            asyncio.create_task(
                _supervise("projector", lambda: app.projector.run(retry_seconds=retry), retry)
            )
        )
    running.tasks.append(
        asyncio.create_task(_supervise("lag-monitor", lambda: _monitor(running), retry))
    )
    try:
        yield running
    finally:
        await server.stop(settings.shutdown_grace_seconds)
        for task in running.tasks:
            task.cancel()
        for task in running.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
