"""Fixtures of the query service's integration suite: a private redis-server, the embedded
event store (in this test's loop), a publisher that appends integration events with the command
service's own adapter (``EsdbIntegrationLog``), and a running query service on port 0."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import query_pb2_grpc
from services.command.adapters.esdb_publishing import EsdbIntegrationLog
from services.command.adapters.pooled_appends import PooledAppender
from services.common.envelope import Envelope
from services.common.integration_signing import IntegrationKeys
from services.query.bootstrap import QueryApp, build
from services.query.settings import QuerySettings
from standins.eventstore.server import EventStoreServer
from tests.support.redis_server import redis_server, redis_url  # noqa: F401

ServiceFactory = Callable[..., contextlib.AbstractAsyncContextManager[QueryApp]]


async def publish(
    client: AsyncEventStoreDBClient, history: list[Envelope], keys: IntegrationKeys | None = None
) -> None:
    """Append one grid's envelopes at their revisions (sequence n at revision n - 1), signed
    with ``keys`` when given.

    Through the command service's ``EsdbIntegrationLog``; its BatchAppend calls are closed after.
    """
    appender = PooledAppender(client)
    try:
        log = EsdbIntegrationLog(client, appender=appender, keys=keys)
        await log.append(history[0].grid_id, history)
    finally:
        appender.close()


@pytest.fixture
def settings(eventstore: EventStoreServer, redis_url: str) -> QuerySettings:  # noqa: F811
    return QuerySettings(
        eventstore_uri=eventstore.uri,
        redis_url=redis_url,
        query_address="127.0.0.1:0",
        query_lag_interval_seconds=0.2,
        query_batch_size=50,
        shutdown_grace_seconds=0.5,
        log_level="WARNING",
    )


@pytest.fixture
def query_service(settings: QuerySettings) -> ServiceFactory:
    """``async with query_service(**overrides) as running`` (running.port, running.parts)."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[QueryApp]:
        adapters = {
            k: overrides.pop(k)
            for k in ("read_model", "feed", "parked", "fast_details")
            if k in overrides
        }
        local = settings.model_copy(update=overrides)
        async with build(local, **adapters) as running:
            yield running

    return start


@pytest.fixture
async def stub_factory() -> AsyncIterator[
    Callable[[int], query_pb2_grpc.RoverQueryServiceAsyncStub]
]:
    channels: list[grpc.aio.Channel] = []

    def make(port: int) -> query_pb2_grpc.RoverQueryServiceAsyncStub:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        stub: query_pb2_grpc.RoverQueryServiceAsyncStub = query_pb2_grpc.RoverQueryServiceStub(
            channel
        )
        return stub

    yield make
    for channel in channels:
        await channel.close()
