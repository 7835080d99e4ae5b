"""Metrics benchmark (``python -m bench metrics``): what the RPC metrics interceptor costs.

The application's own metrics are read at scrape time (plain ints the code already keeps),
so the per-call cost is the interceptor's: two counter increments and a histogram
observation. Measured two ways, in this process:

- the wrapper alone: a trivial handler awaited directly, with and without the interceptor's
  wrapper around it (``timeit``, best of 5): microseconds per call;
- a unary echo over real gRPC on loopback, 16 clients, metrics off vs on (an endpoint on
  port 0), alternating pairs: calls/s ratio and this process's CPU per call (the server
  and the clients share it), with the off/off noise floor.

``BENCH_METRICS_QUICK=1``: 3 pairs of shorter runs.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import grpc

from bench.command.timing import timed
from services.common.grpc_server import GrpcServer, Service
from services.common.metrics import Metrics

__all__ = ["main"]

QUICK = os.environ.get("BENCH_METRICS_QUICK", "") not in ("", "0")
PAIRS = 3 if QUICK else 5
SECONDS = 1.0 if QUICK else 2.0
CLIENTS = 16
SERVICE = "bench.v1.Echo"


async def _echo(request: bytes, context: Any) -> bytes:
    return request


def _register(server: grpc.aio.Server) -> None:
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(_echo)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler}),)
    )


async def _wrapper_seconds() -> tuple[float, float]:
    """Per call: the bare handler awaited, and the same through the interceptor's wrapper."""
    metrics = Metrics("127.0.0.1:0", setting="BENCH")
    [interceptor] = metrics.interceptors()

    async def continuation(details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(_echo)

    class _Details(grpc.HandlerCallDetails):
        method = f"/{SERVICE}/Echo"
        invocation_metadata = ()

    details = _Details()
    wrapped = await interceptor.intercept_service(continuation, details)
    assert wrapped is not None
    assert wrapped.unary_unary is not None
    counted = wrapped.unary_unary

    class _Context:
        def code(self) -> None:
            return None

    context = _Context()
    runs = 100_000

    async def loop(call: Any) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(runs):
                await call(b"x", context)
            best = min(best, time.perf_counter() - started)
        return best / runs

    return await loop(_echo), await loop(counted)


async def _run(metered: bool) -> tuple[float, float]:
    """calls/s and this process's CPU-us per call, with the metrics endpoint on or off."""
    metrics = Metrics("127.0.0.1:0" if metered else "", setting="BENCH")
    server = GrpcServer(
        "127.0.0.1:0", [Service(SERVICE, _register)], interceptors=metrics.interceptors()
    )
    port = await server.start()
    metrics.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/{SERVICE}/Echo"
            )
            await echo(b"warm")
            before = time.process_time()
            rate, latencies = await timed(CLIENTS, SECONDS, lambda _: lambda: echo(b"x"))
            used = time.process_time() - before
    finally:
        await server.stop(0)
        metrics.stop()
    return rate, used * 1e6 / len(latencies)


async def main() -> None:
    bare, counted = await _wrapper_seconds()
    print(
        f"the interceptor's wrapper: {(counted - bare) * 1e6:.2f} us per call "
        f"(bare handler {bare * 1e6:.2f} us, wrapped {counted * 1e6:.2f} us)",
        flush=True,
    )
    rates, cpus, noise = [], [], []
    for pair in range(PAIRS):
        off, on, off_again = await _run(False), await _run(True), await _run(False)
        base_rate = (off[0] + off_again[0]) / 2
        base_cpu = (off[1] + off_again[1]) / 2
        rates.append(on[0] / base_rate)
        cpus.append(on[1] / base_cpu)
        noise.append(off_again[0] / off[0])
        print(
            f"  pair {pair + 1}: off {off[0]:,.0f}/s, on {on[0]:,.0f}/s, off {off_again[0]:,.0f}/s;"
            f" CPU per call off {base_cpu:.0f} us, on {on[1]:.0f} us",
            flush=True,
        )

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"

    print(f"unary echo, {CLIENTS} clients, metrics on / off: calls/s {spread(rates)}", flush=True)
    print(f"  CPU per call on / off {spread(cpus)}; off / off (noise) {spread(noise)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
