"""The composition root: the only place that builds concrete adapters and wires them.

``create_service(settings)`` builds everything for production (EventStoreDB through esdbclient);
tests pass ``adapters=in_memory_adapters()`` or their own. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from esdbclient import AsyncEventStoreDBClient

from protos.rover.v1 import command_pb2, command_pb2_grpc
from services.command.adapters.esdb_appends import BatchAppender
from services.command.adapters.esdb_publishing import (
    EsdbCheckpointStore,
    EsdbDomainEventFeed,
    EsdbIntegrationLog,
)
from services.command.adapters.esdb_store import EsdbEventStore, EsdbSnapshotStore
from services.command.adapters.memory import (
    InMemoryCheckpointStore,
    InMemoryEventStore,
    InMemoryIntegrationLog,
    InMemorySnapshotStore,
)
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
from services.command.grpc.servicer import RoverCommandServicer
from services.command.settings import CommandSettings
from services.common.consumer_groups import ensure_consumer_groups, load_consumer_groups
from services.common.grpc_server import GrpcServer, Service
from services.common.logs import get_logger

__all__ = [
    "Adapters",
    "Application",
    "CommandService",
    "build_application",
    "create_service",
    "esdb_adapters",
    "in_memory_adapters",
]

_log = get_logger(__name__)
_SERVICE_NAME = command_pb2.DESCRIPTOR.services_by_name["RoverCommandService"].full_name


async def _nothing() -> None:
    return None


@dataclass(kw_only=True)
class Adapters:
    """Every port's implementation, and how to release them."""

    events: EventStore
    snapshots: SnapshotStore
    feed: DomainEventFeed
    integration: IntegrationLog
    checkpoints: CheckpointStore
    clock: Clock = field(default_factory=SystemClock)
    ids: IdGenerator = field(default_factory=UuidGenerator)
    close: Callable[[], Awaitable[None]] = _nothing


def in_memory_adapters(*, clock: Clock | None = None, ids: IdGenerator | None = None) -> Adapters:
    """Fakes for unit tests (share one ``InMemoryEventStore`` for both events and feed)."""
    store = InMemoryEventStore()
    return Adapters(
        events=store,
        snapshots=InMemorySnapshotStore(),
        feed=store,
        integration=InMemoryIntegrationLog(),
        checkpoints=InMemoryCheckpointStore(),
        clock=clock or SystemClock(),
        ids=ids or UuidGenerator(),
    )


async def esdb_adapters(settings: CommandSettings) -> Adapters:
    """EventStoreDB adapters sharing one asyncio client (connecting is lazy and silent)."""
    client = AsyncEventStoreDBClient(settings.eventstore_uri)
    await client.connect()
    # Downstream consumers only need a group name: the publisher's owner provisions the groups
    # on integration-* (idempotent: created when missing, updated when settings changed).
    await ensure_consumer_groups(client, load_consumer_groups())
    timeout = settings.eventstore_timeout_seconds
    appender = BatchAppender(client)  # one pool of open BatchAppend calls for both writers

    async def close() -> None:
        appender.close()
        await client.close()

    return Adapters(
        events=EsdbEventStore(client, timeout=timeout, appender=appender),
        snapshots=EsdbSnapshotStore(client, timeout=timeout),
        feed=EsdbDomainEventFeed(client),
        integration=EsdbIntegrationLog(client, timeout=timeout, appender=appender),
        checkpoints=EsdbCheckpointStore(
            client, settings.publisher_checkpoint_stream, timeout=timeout
        ),
        close=close,
    )


@dataclass(kw_only=True)
class Application:
    """The use cases, transport-free: handlers, the repository behind them, the publisher."""

    handlers: Handlers
    repository: GridRepository
    publisher: Publisher


def build_application(settings: CommandSettings, adapters: Adapters) -> Application:
    """Wire the handlers and the publisher to the given adapters."""
    repository = GridRepository(
        adapters.events,
        adapters.snapshots,
        cache_size=settings.command_cache_size,
        request_window=settings.command_request_window,
        snapshot_interval=settings.snapshot_interval,
    )
    retry = RetryPolicy(
        max_attempts=settings.command_max_attempts,
        base_delay=settings.command_retry_base_ms / 1000,
        max_delay=settings.command_retry_max_ms / 1000,
    )
    executor = CommandExecutor(
        repository, adapters.events, adapters.clock, adapters.ids, retry=retry
    )
    publisher = Publisher(
        adapters.feed,
        adapters.integration,
        adapters.checkpoints,
        PublisherSettings(
            max_batch=settings.publisher_max_batch,
            concurrency=settings.publisher_concurrency,
            max_pending=settings.publisher_max_pending,
            append_attempts=settings.publisher_append_attempts,
            checkpoint_every=settings.publisher_checkpoint_every,
            checkpoint_interval=settings.publisher_checkpoint_seconds,
        ),
    )
    return Application(
        handlers=Handlers(executor, adapters.ids), repository=repository, publisher=publisher
    )


class CommandService:
    """The running service: gRPC server (health, reflection) plus the publisher task."""

    def __init__(self, settings: CommandSettings, adapters: Adapters) -> None:
        self.settings = settings
        self.adapters = adapters
        self.application = build_application(settings, adapters)
        servicer = RoverCommandServicer(self.application.handlers)

        def register(server: object) -> None:
            command_pb2_grpc.add_RoverCommandServiceServicer_to_server(servicer, server)  # type: ignore[arg-type]

        self.server = GrpcServer(settings.command_address, [Service(_SERVICE_NAME, register)])
        self._publisher_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``-style target for clients."""
        host = self.settings.command_address.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> int:
        """Start the publisher (if enabled) and serve; returns the bound port."""
        if self.settings.publisher_enabled:
            self.start_publisher()
        return await self.server.start()

    def start_publisher(self) -> None:
        """Run the publisher in the background (idempotent)."""
        if self._publisher_task is None:
            self._publisher_task = asyncio.create_task(
                self.application.publisher.run_forever(), name="integration-publisher"
            )

    async def stop(self, grace: float | None = None) -> None:
        """Drain calls, stop the publisher (saving its checkpoint), release the store."""
        await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        task, self._publisher_task = self._publisher_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.application.repository.drain()
        await self.adapters.close()
        _log.info("command service stopped")


async def create_service(
    settings: CommandSettings | None = None, adapters: Adapters | None = None
) -> CommandService:
    """Build (not start) the service; EventStoreDB adapters unless ``adapters`` are given."""
    settings = settings or CommandSettings()
    if adapters is None:
        adapters = await esdb_adapters(settings)
    return CommandService(settings, adapters)
