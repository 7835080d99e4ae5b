"""Servers the benchmarks start beside ours: the bare echo baseline, and waiting for SERVING."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["ECHO_METHOD", "start_echo", "wait_serving"]

ECHO_METHOD = "/bench.Echo/Echo"
"""The echo server's one method: unary, answers with the request's bytes."""

_ECHO = """
import asyncio, grpc, sys
async def main():
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.unary_unary_rpc_method_handler(_echo)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler})])
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()
async def _echo(request, context):
    return request
asyncio.run(main())
"""


def start_echo(port: int) -> subprocess.Popen[bytes]:
    """A bare grpc.aio unary echo server in a child process on 127.0.0.1:``port``, ready."""
    echo = subprocess.Popen([sys.executable, "-c", _ECHO, str(port)], stdout=subprocess.PIPE)
    assert echo.stdout is not None
    if echo.stdout.readline().strip() != b"ready":
        echo.kill()
        echo.wait()
        raise RuntimeError("the echo server did not start")
    return echo


async def wait_serving(address: str, process: subprocess.Popen[bytes], name: str) -> None:
    """Until the server at ``address`` (run by ``process``) reports SERVING; at most 60 s."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited at start-up")
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{name} never reported SERVING")
