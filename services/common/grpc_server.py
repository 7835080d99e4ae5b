"""A grpc.aio server with what every one of ours has: health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.limits import LimitSettings, server_options
from services.common.logs import get_logger
from services.common.request_decoding import MalformedRequestInterceptor
from services.common.request_limits import max_receive_size
from services.common.tracing_setup import server_interceptors

__all__ = ["GrpcServer", "Service", "wait_for_shutdown_signal"]

_log = get_logger(__name__)

# grpc.max_receive_message_length is derived from the hosted services' largest valid request
# (services/common/request_limits.py); the other options from services/common/limits.py.
_MAX_RECEIVE = "grpc.max_receive_message_length"
# grpcio sets SO_REUSEPORT by default, so a second server would silently share the port;
# instances that mean to share it say so (``share_port``).
_REUSEPORT = "grpc.so_reuseport"


@dataclass(frozen=True, slots=True)
class Service:
    """One gRPC service to host: its full name and how to add its servicer to a server."""

    name: str
    register: Callable[[grpc.aio.Server], None]


class GrpcServer:
    """Hosts services on one address with health checking, reflection and graceful stop.

    Health reports SERVING for "" and every hosted service once started, and NOT_SERVING as
    soon as a stop begins, so load balancers drain before in-flight calls are cancelled.
    """

    def __init__(
        self,
        address: str,
        services: Sequence[Service],
        *,
        limits: LimitSettings | None = None,
        share_port: bool = False,
        instance_address: str = "",
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self._address = address
        self._credentials = credentials
        self._interceptors = tuple(interceptors)
        self._services = tuple(services)
        # No limits given (tests, benches): the settings' defaults, not the environment's.
        self._options = [
            *server_options(limits or LimitSettings.model_construct()),
            (_REUSEPORT, int(share_port)),
            (_MAX_RECEIVE, max_receive_size(s.name for s in self._services)),
        ]
        self._instance_address = instance_address
        self._shares_port = share_port
        self._server: grpc.aio.Server | None = None  # made in start(): it binds to the loop
        self._health = health.aio.HealthServicer()
        self._port = 0
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound port (useful when the address asked for port 0)."""
        return self._port

    @property
    def max_receive_size(self) -> int:
        """The largest request body this server accepts, in bytes."""
        return next(value for name, value in self._options if name == _MAX_RECEIVE)

    @property
    def health(self) -> health.aio.HealthServicer:
        """The health servicer, for services that report their own readiness."""
        return self._health

    async def start(self, *, serving: bool = True) -> int:
        """Bind and start; health reports ``serving`` from the first call on. Returns the port.

        A service whose dependency is not ready yet starts with ``serving=False`` and calls
        :meth:`set_serving` later, so no health check ever sees a premature SERVING.
        """
        # Ours first (outermost: e.g. metrics, so a call's time includes its span's cost),
        # then with tracing on (services/common/tracing_setup.py) a SERVER span per call, and
        # innermost the refusal of undecodable bodies (seen by both as an INVALID_ARGUMENT call).
        interceptors = [*self._interceptors, *server_interceptors(), MalformedRequestInterceptor()]
        server = self._server = grpc.aio.server(options=self._options, interceptors=interceptors)
        for service in self._services:
            service.register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = [s.name for s in self._services]
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        try:
            if self._credentials is None:
                self._port = server.add_insecure_port(self._address)
            else:  # TLS (services/common/tls.py); the instance address below stays local
                self._port = server.add_secure_port(self._address, self._credentials)
        except RuntimeError as error:
            raise OSError(f"cannot listen on {self._address}: {error}") from error
        if self._instance_address:
            try:
                server.add_insecure_port(self._instance_address)
            except RuntimeError as error:
                raise OSError(f"cannot listen on {self._instance_address}: {error}") from error
        # Health is set before the port accepts calls, so the first check sees the truth.
        await self.set_serving(serving)
        await server.start()
        _log.info(
            "grpc server started",
            address=self._address,
            port=self._port,
            instance_address=self._instance_address or None,
            shared=self._shares_port,
            tls=self._credentials is not None,
            services=names,
        )
        return self._port

    async def set_serving(self, serving: bool) -> None:
        """Report overall and per-service status (NOT_SERVING while a dependency is down)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *(s.name for s in self._services)]:
            await self._health.set(name, status)

    async def stop(self, grace: float | None = 5.0) -> None:
        """Drain: NOT_SERVING first, then let in-flight calls finish for ``grace`` seconds."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        _log.info("grpc server stopped", address=self._address, port=self._port)

    async def wait_for_termination(self) -> None:
        """Return when the server has stopped."""
        if self._server is not None:
            await self._server.wait_for_termination()


async def wait_for_shutdown_signal(
    on_signal: Callable[[], Awaitable[None]] | None = None,
) -> signal.Signals:
    """Wait for SIGTERM or SIGINT (then restore default handling, so a second one kills)."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def _handler(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    watched = (signal.SIGTERM, signal.SIGINT)
    for sig in watched:
        loop.add_signal_handler(sig, _handler, sig)
    try:
        sig = await received
    finally:
        for s in watched:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(s)
    _log.info("shutdown signal received", signal=sig.name)
    if on_signal is not None:
        await on_signal()
    return sig
