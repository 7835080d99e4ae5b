"""The composition root: builds the query service's object graph, with overrides for tests.

Nothing connects at import time; ``open_app`` connects (and closes) what it built itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from esdbclient import AsyncEventStoreDBClient
from redis.asyncio import Redis

from services.query.adapters.esdb_feed import EsdbEventFeed
from services.query.adapters.redis_read_model import RedisReadModel
from services.query.application.ports import EventFeed, ReadModel
from services.query.application.projector import Projector
from services.query.application.queries import Queries
from services.query.application.watch import VersionWatch
from services.query.grpc.servicer import QueryServicer
from services.query.settings import QuerySettings

__all__ = ["QueryApp", "build", "open_app"]


@dataclass(frozen=True, slots=True)
class QueryApp:
    """Everything the query service runs, wired."""

    settings: QuerySettings
    read_model: ReadModel
    feed: EventFeed
    watch: VersionWatch
    queries: Queries
    projector: Projector
    servicer: QueryServicer


def build(settings: QuerySettings, *, read_model: ReadModel, feed: EventFeed) -> QueryApp:
    """Wire the use cases and the servicer around the given adapters (real or fakes)."""
    watch = VersionWatch()
    queries = Queries(
        read_model,
        watch=watch,
        max_wait_seconds=settings.query_min_version_wait_seconds,
        poll_seconds=settings.query_min_version_poll_seconds,
    )
    projector = Projector(feed, read_model, batch_size=settings.query_batch_size, watch=watch)
    return QueryApp(
        settings=settings,
        read_model=read_model,
        feed=feed,
        watch=watch,
        queries=queries,
        projector=projector,
        servicer=QueryServicer(queries),
    )


def redis_read_model(settings: QuerySettings) -> RedisReadModel:
    """The Redis adapter (the pool connects lazily, on first use)."""
    client: Redis = Redis.from_url(settings.redis_url, decode_responses=True)
    return RedisReadModel(client, settings.redis_key_prefix)


@contextlib.asynccontextmanager
async def open_app(
    settings: QuerySettings,
    *,
    read_model: ReadModel | None = None,
    feed: EventFeed | None = None,
    fast_projection: bool = True,
) -> AsyncIterator[QueryApp]:
    """Build with the real adapters unless overridden; close what was opened here.

    ``fast_projection`` projects rover events straight off their messages (the plain path
    decodes every event and projects its envelope).
    """
    async with contextlib.AsyncExitStack() as stack:
        if read_model is None:
            redis_model = redis_read_model(settings)
            stack.push_async_callback(redis_model.close)
            read_model = redis_model
        if feed is None:
            client = AsyncEventStoreDBClient(settings.eventstore_uri)
            await client.connect()
            stack.push_async_callback(client.close)
            feed = EsdbEventFeed(
                client,
                buffer=settings.query_feed_buffer,
                linger_seconds=settings.query_catchup_linger_seconds,
                fast_projection=fast_projection,
            )
        yield build(settings, read_model=read_model, feed=feed)
