"""Composition root of the web front-end: ``build(settings, **overrides) -> WebApp``.

Nothing connects or binds in ``build``; :meth:`WebApp.start` opens the gRPC channels (lazily
connecting, as gRPC channels do; TLS when ``ROVER_TLS_CA_FILE`` or a client certificate is set)
and starts uvicorn on ``ROVER_WEB_ADDRESS`` (HTTPS with ``ROVER_TLS_CERT_FILE``/``_KEY_FILE``);
:meth:`WebApp.stop`
turns readiness off, ends the live streams, lets in-flight requests finish for
``ROVER_SHUTDOWN_GRACE_SECONDS`` and closes the channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Iterator
from types import TracebackType

import grpc
import uvicorn
from starlette.applications import Starlette

from services.common.channels import LIVE_CHANNEL_OPTIONS
from services.common.grpc_server import wait_for_shutdown_signal
from services.common.logs import get_logger
from services.common.metrics import Metrics, MetricsAddressError
from services.common.settings_text import env_name
from services.web.http_app import Backends, create_app
from services.web.metrics import HttpMetricsMiddleware
from services.web.settings import WebSettings

__all__ = ["WebApp", "build"]

_log = get_logger(__name__)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


# A browser that reads slowly must fall behind at the broadcaster (which tells it to resume), not
# be buffered here: HTTP/2 flow control keeps its stream's window at the default 64 KiB.
_NO_WINDOW_GROWTH = [("grpc.http2.bdp_probe", 0)]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: the process's entry point owns signals
    (``run_until_signal``), and tests run several servers in one process."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


class WebApp:
    """The built front-end: its Starlette app, its backends' channels, its HTTP server."""

    def __init__(self, settings: WebSettings, channels: dict[str, grpc.aio.Channel]) -> None:
        self.settings = settings
        self._channels = channels
        self._stopping = False
        self._started = False
        self.backends = Backends(
            channels=channels,
            timeout=settings.web_call_timeout_seconds,
            ready=lambda: self._started and not self._stopping,
        )
        self.asgi: Starlette = create_app(self.backends)
        self.metrics = Metrics(
            settings.web_metrics_address,
            setting=env_name(WebSettings, "web_metrics_address"),
            rpc=False,  # it serves HTTP; the RPCs it forwards are the services' to count
        )
        if self.metrics.enabled:
            self.asgi.add_middleware(HttpMetricsMiddleware, registry=self.metrics.registry)
        host, port = _host_port(settings.web_address)
        self._server = _EmbeddedServer(
            uvicorn.Config(
                self.asgi,
                host=host,
                port=port,
                lifespan="off",
                http="httptools",  # compiled HTTP/1.1 (pyproject.toml), not pure-Python h11
                log_config=None,
                access_log=False,
                server_header=False,
                ssl_certfile=settings.tls_cert_file or None,
                ssl_keyfile=settings.tls_key_file or None,
            )
        )
        self._loop: asyncio.Task[None] | None = None
        self.port = port

    @property
    def url(self) -> str:
        """``http(s)://host:port`` where it listens (the real port when 0 was asked)."""
        host = self._server.config.host
        scheme = "https" if self.settings.tls_enabled else "http"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Serve metrics, then listen; the channels connect on their first call (a busy
        metrics port fails first: MetricsAddressError, one line naming the setting)."""
        self.metrics.start()
        try:
            await self._listen()
        except BaseException:
            self.metrics.stop()
            raise
        self._started = True
        _log.info(
            "web listening",
            url=self.url,
            tls=self.settings.describe_tls(),
            metrics=self.metrics.url or None,
        )

    async def _listen(self) -> None:
        self._loop = asyncio.create_task(self._server.serve(), name="web-server")
        listening = asyncio.create_task(self._server.listening.wait())
        await asyncio.wait({self._loop, listening}, return_when=asyncio.FIRST_COMPLETED)
        if not self._server.listening.is_set() or self._loop.done():
            listening.cancel()
            with contextlib.suppress(BaseException):
                await self._loop
            self._loop = None
            raise OSError(f"ROVER_WEB_ADDRESS: cannot listen on {self.settings.web_address}")
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]

    async def stop(self, grace: float | None = None) -> None:
        """Not ready, live streams ended, requests drained (at most ``grace``), channels closed."""
        self._stopping = True
        self.backends.live_calls.end_all()
        if self._loop is not None:
            self._server.should_exit = True
            try:
                async with asyncio.timeout(grace or self.settings.shutdown_grace_seconds):
                    await asyncio.shield(self._loop)
            except TimeoutError:
                _log.warning("requests still open after the grace period; closing them")
                self._server.force_exit = True
                await self._loop
            self._loop = None
        for channel in self._channels.values():
            await channel.close()
        await asyncio.to_thread(self.metrics.stop)  # joins the endpoint's thread
        _log.info("web stopped")

    async def run_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully (exit 1 with one line naming
        the setting when the metrics address cannot be listened on)."""
        try:
            await self.start()
        except MetricsAddressError as error:
            _log.error("cannot start", service="web", error=str(error))
            sys.stderr.write(f"web: {error}\n")
            raise SystemExit(1) from None
        try:
            await wait_for_shutdown_signal()
        finally:
            await self.stop()

    async def __aenter__(self) -> WebApp:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _channel(
    target: str, credentials: grpc.ChannelCredentials | None, options: list[tuple[str, int]]
) -> grpc.aio.Channel:
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, credentials, options=options)


def build(settings: WebSettings, *, channels: dict[str, grpc.aio.Channel] | None = None) -> WebApp:
    """The front-end for ``settings``; ``channels`` (by route: command, query, live) replace
    the channels to the configured addresses (TLS when the settings give a CA or a client
    certificate, as the CLI's)."""
    if settings.tls_client_ca_file:
        _log.info(
            "ROVER_TLS_CLIENT_CA_FILE is not applied to HTTPS: browsers are not asked for a "
            "client certificate; callers prove who they are with tokens"
        )
    if channels is None:
        credentials = settings.channel_credentials()
        live_options = [*LIVE_CHANNEL_OPTIONS, *_NO_WINDOW_GROWTH]
        channels = {
            "command": _channel(settings.command_address, credentials, []),
            "query": _channel(settings.query_address, credentials, []),
            "live": _channel(settings.broadcaster_address, credentials, live_options),
        }
    return WebApp(settings, channels)
