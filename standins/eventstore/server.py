"""Build, start and stop the EventStoreDB-compatible gRPC server (the programmatic API).

In an asyncio program or a pytest-asyncio fixture::

    async with EventStoreServer(db_path=None, port=0) as server:   # None = in memory
        client = AsyncEventStoreDBClient(server.uri)               # esdb://127.0.0.1:N?Tls=false

From synchronous code (or for the sync ``EventStoreDBClient``), run it on its own event loop
in a background thread::

    with BackgroundEventStore(db_path="/tmp/es.sqlite") as server:
        client = EventStoreDBClient(server.uri)

Caveat: gRPC's asyncio poller serves ONE event loop per process, so do not mix a
``BackgroundEventStore`` with ``grpc.aio`` clients (``AsyncEventStoreDBClient``) on another loop
of the same process; run the server in that loop instead, or in a child process with
``standins.eventstore.process.EventStoreProcess`` (what the conformance suite does).

``port=0`` picks a free port; ``server.port`` is the bound one. The gossip service advertises
``advertise_host`` (default ``localhost``) and ``advertise_port`` (default the bound port), so
``esdb+discover://localhost:N?Tls=false`` works as well. ``stop()`` refuses new calls, ends
subscriptions, lets in-flight appends finish (within ``grace``), then closes the database.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
import structlog
from esdbclient.protos.Grpc import gossip_pb2_grpc, persistent_pb2_grpc, streams_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from services.common.limits import LimitSettings
from services.common.metrics import Metrics
from standins.eventstore.access import AccessControl, PersistentAccessInterceptor, User
from standins.eventstore.dblock import DatabaseLock, DatabaseLockedError
from standins.eventstore.features import ServerFeaturesService
from standins.eventstore.gossip import GossipService
from standins.eventstore.metrics import StoreMetrics
from standins.eventstore.persistent import PersistentSubscriptions
from standins.eventstore.storage import SqliteEventLog
from standins.eventstore.streams import DEFAULT_MAX_APPEND_SIZE, StreamsService
from standins.eventstore.wire import serverfeatures_pb2_grpc
from standins.eventstore.writer import StoreWriter

__all__ = ["BackgroundEventStore", "EventStoreServer", "ServerStartError"]

_log = structlog.get_logger("eventstore.server")
_MIB = 1024 * 1024
_HANDSHAKE_SECONDS: float = LimitSettings.model_fields["grpc_handshake_timeout_seconds"].default
_SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 17 * _MIB),
    ("grpc.max_send_message_length", 17 * _MIB),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.so_reuseport", 0),  # a port in use must fail to bind, not be shared
    # A connection that never completes its HTTP/2 preface is closed (half-open connections),
    # after the rover servers' default time (services/common/limits.py).
    ("grpc.server_handshake_timeout_ms", round(_HANDSHAKE_SECONDS * 1000)),
]
_SERVICE_NAMES = (
    "event_store.client.streams.Streams",
    "event_store.client.gossip.Gossip",
    "event_store.client.server_features.ServerFeatures",
)


class ServerStartError(RuntimeError):
    """The server could not start (port in use, unreadable TLS files, unusable database)."""


class EventStoreServer:
    """One single-node event store: SQLite log, writer, and every gRPC service on one port."""

    def __init__(
        self,
        *,
        db_path: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        advertise_host: str | None = None,
        advertise_port: int | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        durable: bool = True,
        max_append_size: int = DEFAULT_MAX_APPEND_SIZE,
        metrics_address: str = "",
        users: Mapping[str, User] | None = None,
    ) -> None:
        self.db_path = db_path
        if users is not None and not (tls_cert and tls_key):
            raise ServerStartError("users need TLS: clients send credentials only over TLS")
        self._users = users
        self.host = host
        self.port = port
        self.advertise_host = advertise_host or "localhost"
        self._advertise_port = advertise_port
        self._tls: tuple[bytes, bytes] | None = None
        if tls_cert and tls_key:  # read now: unreadable files fail here, not mid-start
            try:
                self._tls = (Path(tls_key).read_bytes(), Path(tls_cert).read_bytes())
            except OSError as error:
                raise ServerStartError(f"cannot read TLS certificate or key: {error}") from error
        self._durable = durable
        self._max_append_size = max_append_size
        self._server: grpc.aio.Server | None = None
        self._log: SqliteEventLog | None = None
        self._writer: StoreWriter | None = None
        self._persistent: PersistentSubscriptions | None = None
        self._lock: DatabaseLock | None = None
        # /metrics on metrics_address (empty: none); the store's own counters on its registry.
        self.metrics = Metrics(metrics_address, setting="ROVER_EVENTSTORE_METRICS_ADDRESS")
        self.store_metrics = StoreMetrics(self.metrics.registry)

    @property
    def uri(self) -> str:
        """An esdbclient connection string for this server."""
        tls = "true" if self._tls else "false"
        return f"esdb://{self.host}:{self.port}?Tls={tls}"

    @property
    def log(self) -> SqliteEventLog:
        """The running server's event log."""
        assert self._log is not None, "server not started"
        return self._log

    @property
    def has_persistent(self) -> bool:
        """Whether the persistent subscriptions service is wired in."""
        return self._persistent is not None

    async def start(self) -> None:
        """Open the store and start listening; raise ``ServerStartError`` on failure."""
        try:
            self.metrics.start()
        except OSError as error:
            raise ServerStartError(str(error)) from None
        try:
            await self._start_store()
        except BaseException:
            self.metrics.stop()
            raise

    async def _start_store(self) -> None:
        self._lock_database()
        try:
            self._log = SqliteEventLog(self.db_path, durable=self._durable)
        except Exception as error:
            self._unlock_database()
            raise ServerStartError(f"cannot open database {self.db_path!r}: {error}") from error
        self._writer = StoreWriter(self._log, self.store_metrics)
        await self._writer.start()
        try:
            await self._start_grpc()
        except BaseException:
            await self._writer.stop()
            self._log.close()
            self._unlock_database()
            raise
        _log.info(
            "listening",
            host=self.host,
            port=self.port,
            db=self.db_path or ":memory:",
            tls=self._tls is not None,
            users=sorted(self._users) if self._users is not None else "off",
        )

    def _lock_database(self) -> None:
        if self.db_path is None:
            return  # in memory: nothing to share
        lock = DatabaseLock(self.db_path)
        try:
            lock.acquire()
        except DatabaseLockedError as error:
            raise ServerStartError(str(error)) from error
        except OSError as error:
            raise ServerStartError(f"cannot open database {self.db_path!r}: {error}") from error
        self._lock = lock

    def _unlock_database(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    async def _start_grpc(self) -> None:
        assert self._log is not None
        assert self._writer is not None
        access = AccessControl(self._log, self._users)
        interceptors = [*self.metrics.interceptors(), PersistentAccessInterceptor(access)]
        server = grpc.aio.server(options=_SERVER_OPTIONS, interceptors=interceptors)
        streams = StreamsService(
            self._log,
            self._writer,
            max_append_size=self._max_append_size,
            metrics=self.store_metrics,
            access=access,
        )
        streams_pb2_grpc.add_StreamsServicer_to_server(streams, server)  # type: ignore[no-untyped-call]
        self._persistent = PersistentSubscriptions(self._log, self.db_path, self.store_metrics)
        add = persistent_pb2_grpc.add_PersistentSubscriptionsServicer_to_server
        add(self._persistent, server)  # type: ignore[no-untyped-call]
        names = [
            *_SERVICE_NAMES,
            "event_store.client.persistent_subscriptions.PersistentSubscriptions",
        ]
        health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        features = ServerFeaturesService(persistent=self._persistent is not None)
        serverfeatures_pb2_grpc.add_ServerFeaturesServicer_to_server(features, server)
        address = f"{self.host}:{self.port}"
        try:
            if self._tls is None:
                bound = server.add_insecure_port(address)
            else:
                credentials = grpc.ssl_server_credentials([self._tls])
                bound = server.add_secure_port(address, credentials)
        except (RuntimeError, OSError) as error:
            raise ServerStartError(f"cannot listen on {address}: {error}") from error
        if bound == 0:
            raise ServerStartError(f"cannot listen on {address}: address in use?")
        self.port = bound
        gossip = GossipService(self.advertise_host, self._advertise_port or bound)
        gossip_pb2_grpc.add_GossipServicer_to_server(gossip, server)  # type: ignore[no-untyped-call]
        names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        names.append(reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server)
        if self._persistent is not None:
            await self._persistent.start()
        await server.start()
        self._server = server

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stop: no new calls, subscriptions end, in-flight writes finish, then close."""
        server, self._server = self._server, None
        if server is not None:
            stopping = asyncio.create_task(server.stop(grace))
            await asyncio.sleep(0)  # let the server refuse new calls first
            if self._log is not None:
                self._log.shutdown()
            if self._persistent is not None:
                await self._persistent.stop()
            await stopping
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._log is not None:
            self._log.close()
            self._log = None
            _log.info("stopped", port=self.port)
        self._unlock_database()
        await asyncio.to_thread(self.metrics.stop)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class BackgroundEventStore:
    """An ``EventStoreServer`` on its own event loop in a daemon thread, for synchronous code.

    Takes the same keyword arguments; ``start()`` blocks until the server listens (or raises
    its start error); ``stop()`` blocks until it has stopped.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.server = EventStoreServer(**kwargs)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def uri(self) -> str:
        """An esdbclient connection string for the running server."""
        return self.server.uri

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    def start(self) -> BackgroundEventStore:
        """Start the thread and wait until the server listens."""
        self._thread = threading.Thread(target=self._run, name="eventstore", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.server.stop()

    def stop(self) -> None:
        """Stop the server and join the thread."""
        if self._thread is None or self._loop is None or self._stop is None:
            return
        if self._error is None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> BackgroundEventStore:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
