"""Prometheus metrics of one service instance: its registry, its HTTP endpoint, its RPC metrics.

Every App has a :class:`Metrics`: a registry of its own (several services may share a process in
tests, so never the global default one), a grpc.aio server interceptor that counts RPCs by
method and status with a latency histogram (go-grpc-prometheus's names, which dashboards
know), and the ``/metrics`` endpoint of prometheus-client's ``start_http_server`` on the
instance's metrics address. Application state is read at scrape time by collectors that the
composition roots register (:func:`state_collector`), so application code keeps plain ints.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from services.common.handler_wrapping import HandlerWrappingInterceptor
from services.common.logs import get_logger

__all__ = ["Metrics", "MetricsAddressError", "parked_family"]

_log = get_logger(__name__)
# Latency buckets (seconds): a warm command takes about a millisecond; a WatchGrid lasts hours.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)
_OK = grpc.StatusCode.OK.name
_CANCELLED = grpc.StatusCode.CANCELLED.name
_UNKNOWN = grpc.StatusCode.UNKNOWN.name


class MetricsAddressError(OSError):
    """The metrics endpoint cannot listen where its setting says (a busy port, a bad host)."""


class _CallbackCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())


def state_collector(collect: Callable[[], Iterable[Metric]]) -> Collector:
    """A collector that builds its metric families from application state at each scrape.

    ``collect`` runs on the HTTP server's thread: it should read plain attributes (ints,
    floats) and copies, never iterate a container the event loop may be changing.
    """
    return _CallbackCollector(collect)


def parked_family(consumer: str, count: int) -> GaugeMetricFamily:
    """``rover_parked_events{consumer}``, one family for every consumer that parks events."""
    family = GaugeMetricFamily(
        "rover_parked_events",
        "Events this consumer could not decode or apply and parked (kept for a replay).",
        labels=["consumer"],
    )
    family.add_metric([consumer], count)
    return family


def _status_name(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    code = context.code()
    if code is None:
        return _OK
    if isinstance(code, grpc.StatusCode):
        return code.name
    for status in grpc.StatusCode:  # older grpcio answers the int of the code
        if status.value[0] == code:
            return status.name
    return _UNKNOWN


class _MethodMetrics:
    """One method's labelled children, made once: a call then costs two increments and one
    histogram observation, with no label lookup."""

    __slots__ = ("_by_code", "_handled", "_labels", "_seconds", "start")

    def __init__(self, interceptor: RpcMetricsInterceptor, labels: tuple[str, str, str]) -> None:
        self.start: Callable[[], None] = interceptor.started.labels(*labels).inc
        self._seconds = interceptor.seconds.labels(*labels)
        self._handled = interceptor.handled
        self._labels = labels
        self._by_code: dict[str, Callable[[], None]] = {}

    def finish(self, began: float, code: str) -> None:
        self._seconds.observe(time.perf_counter() - began)
        handled = self._by_code.get(code)
        if handled is None:
            handled = self._by_code[code] = self._handled.labels(*self._labels, code).inc
        handled()


class RpcMetricsInterceptor(HandlerWrappingInterceptor):
    """Counts every RPC: started, handled by status, handling seconds.

    Health and reflection are included (probes are calls too, and cost little). The status is
    the one the handler aborted with or set; an exception without one is UNKNOWN (what gRPC
    answers), a cancelled call CANCELLED.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        labels = ("grpc_type", "grpc_service", "grpc_method")
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", labels, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self.seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status (a stream: its whole life).",
            labels,
            buckets=_BUCKETS,
            registry=registry,
        )

    def wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """The method, counted."""
        kind = _KINDS[handler.request_streaming, handler.response_streaming]
        service, _, name = method.lstrip("/").rpartition("/")
        metrics = _MethodMetrics(self, (kind, service, name))
        options = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if kind == "unary":
            assert handler.unary_unary is not None
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, metrics), **options
            )
        if kind == "server_stream":
            assert handler.unary_stream is not None
            return grpc.unary_stream_rpc_method_handler(
                _streamed(handler.unary_stream, metrics), **options
            )
        if kind == "client_stream":
            assert handler.stream_unary is not None
            return grpc.stream_unary_rpc_method_handler(
                _unary(handler.stream_unary, metrics), **options
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            _streamed(handler.stream_stream, metrics), **options
        )


# go-grpc-prometheus's grpc_type, by (request streaming, response streaming).
_KINDS = {
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}
Context = grpc.aio.ServicerContext[Any, Any]


class _Counted:
    """One call, counted: started on entry; on exit its time and status (from the context,
    or from how it failed)."""

    __slots__ = ("_began", "_context", "_metrics")

    def __init__(self, metrics: _MethodMetrics, context: Context) -> None:
        self._metrics = metrics
        self._context = context
        self._began = 0.0

    def __enter__(self) -> None:
        self._metrics.start()
        self._began = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> None:
        context = self._context
        code = _status_name(context) if error is None else _failed(error, context)
        self._metrics.finish(self._began, code)


def _unary(behavior: Callable[..., Awaitable[Any]], metrics: _MethodMetrics) -> Callable[..., Any]:
    async def counted(request: Any, context: Context) -> Any:
        with _Counted(metrics, context):
            return await behavior(request, context)

    return counted


def _streamed(behavior: Callable[..., Any], metrics: _MethodMetrics) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write (health Watch)
        return _unary(behavior, metrics)

    async def counted(request: Any, context: Context) -> AsyncIterator[Any]:
        with _Counted(metrics, context):
            async for response in behavior(request, context):
                yield response

    return counted


def _failed(error: BaseException, context: Context) -> str:
    """The status a failed handler ends with: the one it aborted with, else gRPC's own."""
    named = _status_name(context)
    if named != _OK:
        return named
    if isinstance(error, (GeneratorExit, asyncio.CancelledError)):
        return _CANCELLED
    return _UNKNOWN


class Metrics:
    """One instance's metrics: a registry of its own, the RPC interceptor, the HTTP endpoint.

    ``address`` empty: no endpoint and no interceptor (nothing is measured per call).
    ``setting`` names the variable of the address, for the one-line start-up error.
    ``rpc=False``: no RPC interceptor nor its families (a program that serves no gRPC).
    """

    def __init__(self, address: str, *, setting: str, rpc: bool = True) -> None:
        self.address = address
        self.setting = setting
        # No *_created sample beside each counter and histogram: dashboards do not read them
        # (the library's switch is per process; every registry here is ours).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self._interceptor = RpcMetricsInterceptor(self.registry) if address and rpc else None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def enabled(self) -> bool:
        """Whether an endpoint is configured."""
        return bool(self.address)

    @property
    def port(self) -> int:
        """The bound port once started (useful with port 0); 0 when off."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` once started; empty when off."""
        if not self._port:
            return ""
        return f"http://{self.address.rsplit(':', 1)[0]}:{self._port}/metrics"

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """The RPC interceptor (none when off)."""
        return [] if self._interceptor is None else [self._interceptor]

    def add(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Register a scrape-time reading of application state (:func:`state_collector`)."""
        self.registry.register(state_collector(collect))

    def start(self) -> None:
        """Listen (MetricsAddressError in one line naming the setting when it cannot)."""
        if not self.address or self._server is not None:
            return
        host, _, port = self.address.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":port" is every interface, as in gRPC
        try:
            self._server, self._thread = start_http_server(
                int(port), addr=host, registry=self.registry
            )
        except (OSError, ValueError) as error:
            raise MetricsAddressError(
                f"{self.setting}={self.address}: cannot serve metrics there: {error}"
            ) from None
        self._port = int(self._server.server_port)
        _log.info("metrics endpoint started", url=self.url)

    def stop(self) -> None:
        """Stop the endpoint and its thread (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        _log.info("metrics endpoint stopped", address=self.address)
