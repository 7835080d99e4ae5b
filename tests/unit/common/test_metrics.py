"""The RPC metrics interceptor and the metrics endpoint, on a real grpc.aio server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client.core import GaugeMetricFamily

from services.common import rich_errors
from services.common.app import App
from services.common.grpc_server import GrpcServer, Service
from services.common.metrics import Metrics, MetricsAddressError
from services.common.settings import ServerSettings
from tests.support.metrics import scrape

SERVICE = "test.v1.Probe"
Context = grpc.aio.ServicerContext[Any, Any]


async def _echo(request: bytes, context: Context) -> bytes:
    if request == b"bad":
        await rich_errors.abort(context, grpc.StatusCode.INVALID_ARGUMENT, "bad request")
    if request == b"boom":
        raise RuntimeError("boom")
    if request == b"slow":
        await asyncio.sleep(30)
    return request


async def _count(request: bytes, context: Context) -> AsyncIterator[bytes]:
    for _ in range(int(request)):
        yield b"x"


async def _total(requests: AsyncIterator[bytes], context: Context) -> bytes:
    return b"%d" % len([r async for r in requests])


def _register(server: grpc.aio.Server) -> None:
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Echo": grpc.unary_unary_rpc_method_handler(_echo),
        "Count": grpc.unary_stream_rpc_method_handler(_count),
        "Total": grpc.stream_unary_rpc_method_handler(_total),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def _handled(metrics: Metrics, kind: str, method: str, code: str) -> float:
    value = metrics.registry.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method, "grpc_code": code},
    )
    return value or 0.0


async def test_calls_are_counted_by_type_method_and_status() -> None:
    metrics = Metrics("127.0.0.1:0", setting="ROVER_TEST_METRICS_ADDRESS")
    server = GrpcServer(
        "127.0.0.1:0", [Service(SERVICE, _register)], interceptors=metrics.interceptors()
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/{SERVICE}/Echo"
            )
            assert await echo(b"hi") == b"hi"
            for request, code in ((b"bad", "INVALID_ARGUMENT"), (b"boom", "UNKNOWN")):
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await echo(request)
                assert failed.value.code().name == code
            with pytest.raises(grpc.aio.AioRpcError):
                await echo(b"slow", timeout=0.2)
            count: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
                f"/{SERVICE}/Count"
            )
            assert [r async for r in count(b"3")] == [b"x"] * 3
            total: grpc.aio.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(
                f"/{SERVICE}/Total"
            )
            assert await total(iter([b"a", b"b"])) == b"2"
        for _ in range(1_000):  # the server sees the deadline's end on its own schedule
            if _handled(metrics, "unary", "Echo", "CANCELLED"):
                break
            await asyncio.sleep(0.01)
    finally:
        await server.stop(0)
    assert _handled(metrics, "unary", "Echo", "OK") == 1
    assert _handled(metrics, "unary", "Echo", "INVALID_ARGUMENT") == 1
    assert _handled(metrics, "unary", "Echo", "UNKNOWN") == 1
    assert _handled(metrics, "unary", "Echo", "CANCELLED") == 1  # the client's deadline passed
    assert _handled(metrics, "server_stream", "Count", "OK") == 1
    assert _handled(metrics, "client_stream", "Total", "OK") == 1
    labels = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "Echo"}
    assert metrics.registry.get_sample_value("grpc_server_started_total", labels) == 4
    assert metrics.registry.get_sample_value("grpc_server_handling_seconds_count", labels) == 4


async def test_off_means_no_endpoint_and_no_interceptor() -> None:
    metrics = Metrics("", setting="ROVER_TEST_METRICS_ADDRESS")
    metrics.start()
    assert (metrics.enabled, metrics.port, metrics.url, metrics.interceptors()) == (
        False,
        0,
        "",
        [],
    )
    metrics.stop()


async def test_the_endpoint_serves_collectors_and_stops() -> None:
    metrics = Metrics("127.0.0.1:0", setting="ROVER_TEST_METRICS_ADDRESS")
    metrics.add(lambda: [GaugeMetricFamily("rover_test_gauge", "A test gauge.", value=7)])
    metrics.start()
    try:
        assert (await scrape(metrics.url)).value("rover_test_gauge") == 7
    finally:
        metrics.stop()
    with socket.socket() as probe:  # the port is free again (for a server: SO_REUSEADDR)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", metrics.port))


class _Settings(ServerSettings):
    pass


async def test_a_busy_metrics_port_fails_the_start_in_one_line_naming_the_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        metrics = Metrics(address, setting="ROVER_TEST_METRICS_ADDRESS")
        with pytest.raises(MetricsAddressError, match=f"ROVER_TEST_METRICS_ADDRESS={address}"):
            metrics.start()
        app = App(
            "test",
            _Settings(),
            address="127.0.0.1:0",
            services=[],
            parts=None,
            metrics=Metrics(address, setting="ROVER_TEST_METRICS_ADDRESS"),
        )
        with pytest.raises(SystemExit) as exited:
            await app.run_until_signal()
        assert exited.value.code == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"test service: ROVER_TEST_METRICS_ADDRESS={address}: cannot serve")
