"""Fuzz every RPC of every rover service on loopback: never UNKNOWN, INTERNAL or a deadline.

The command, query (with its admin API) and live services run against our event store stand-in
and a real redis-server. Each example calls one RPC, chosen from the protobuf descriptors, with
(1) random bytes as the body or (2) a well-formed message with adversarial field values; every
refusal must carry google.rpc details. The ``rover-fuzz`` profile is derandomised so ``make
test`` is repeatable; ``FUZZ_PROFILE=rover-fuzz-long`` runs many more random examples.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos.rover.v1 import admin_pb2, command_pb2, common_pb2, live_pb2, query_pb2
from services.broadcaster.bootstrap import build as build_broadcaster
from services.broadcaster.settings import BroadcasterSettings
from services.command.bootstrap import build as build_command
from services.command.settings import CommandSettings
from services.common.request_limits import largest_request, max_receive_size
from services.common.rich_errors import details_of
from services.query.bootstrap import build as build_query
from services.query.settings import QuerySettings
from standins.eventstore.server import EventStoreServer
from tests.support.proto_strategies import messages
from tests.support.redis_server import redis_server, redis_url  # noqa: F401
from tests.support.stubs import command_stub

pytestmark = pytest.mark.slow

settings.register_profile(
    "rover-fuzz",
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "rover-fuzz-long", settings.get_profile("rover-fuzz"), max_examples=3_000, derandomize=False
)
_PROFILE = settings.get_profile(os.environ.get("FUZZ_PROFILE", "rover-fuzz"))

_FILES = (command_pb2, query_pb2, admin_pb2, live_pb2)
_METHODS: list[MethodDescriptor] = sorted(
    (m for f in _FILES for s in f.DESCRIPTOR.services_by_name.values() for m in s.methods),
    key=lambda m: m.full_name,
)
_NAMES = ["fuzzgrid", "fuzzrover", "projector", "broadcaster"]  # what the system holds
_NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}
_TIMEOUT = 30.0  # a hang shows as DEADLINE_EXCEEDED, which fails the test


@dataclass
class _System:
    addresses: dict[str, str]  # service full name -> host:port
    channels: dict[str, grpc.aio.Channel]


@pytest.fixture
async def system(
    eventstore: EventStoreServer,
    redis_url: str,  # noqa: F811
) -> AsyncIterator[_System]:
    command = build_command(
        CommandSettings(
            command_address="127.0.0.1:0",
            eventstore_uri=eventstore.uri,
            shutdown_grace_seconds=0.5,
        )
    )
    live = build_broadcaster(
        BroadcasterSettings(
            broadcaster_address="127.0.0.1:0",
            eventstore_uri=eventstore.uri,
            shutdown_grace_seconds=0.5,
        )
    )
    query_settings = QuerySettings(
        query_address="127.0.0.1:0",
        eventstore_uri=eventstore.uri,
        redis_url=redis_url,
        query_min_version_wait_seconds=0.05,  # a min_version never reached answers at once
        shutdown_grace_seconds=0.5,
        log_level="WARNING",
    )
    await command.start()
    await live.start()
    try:
        async with build_query(query_settings) as query:
            addresses = {
                "rover.v1.RoverCommandService": command.address,
                "rover.v1.RoverLiveService": live.address,
                "rover.v1.RoverQueryService": query.address,
                "rover.v1.RoverAdminService": query.address,
            }
            channels = {a: grpc.aio.insecure_channel(a) for a in set(addresses.values())}
            stub = command_stub(channels[command.address])
            await stub.CreateGrid(
                command_pb2.CreateGridRequest(
                    request_id="fuzz-1", grid_id="fuzzgrid", width=5, height=5
                )
            )
            await stub.CreateRover(
                command_pb2.CreateRoverRequest(
                    request_id="fuzz-2",
                    grid_id="fuzzgrid",
                    rover_id="fuzzrover",
                    position=common_pb2.Position(x=1, y=1),
                    facing=common_pb2.DIRECTION_NORTH,
                )
            )
            yield _System(addresses, {n: channels[a] for n, a in addresses.items()})
            for channel in channels.values():
                await channel.close()
    finally:
        await live.stop()
        await command.stop()


async def _status(
    system: _System, method: MethodDescriptor, body: bytes
) -> grpc.aio.AioRpcError | None:
    """One call: its error, or None when it answered (a first streamed message is an answer)."""
    channel = system.channels[method.containing_service.full_name]
    path = f"/{method.containing_service.full_name}/{method.name}"
    try:
        if method.server_streaming:
            stream: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(path)
            call = stream(body, timeout=_TIMEOUT)
            async for _ in call:
                break  # WatchGrid would go on forever
            call.cancel()
        else:
            unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
            await unary(body, timeout=_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return error
    return None


def _limit(system: _System, method: MethodDescriptor) -> int:
    """The receive limit of the server hosting ``method`` (with the services beside it)."""
    address = system.addresses[method.containing_service.full_name]
    return max_receive_size(name for name, at in system.addresses.items() if at == address)


async def _call(system: _System, method: MethodDescriptor, body: bytes) -> None:
    """One call, whose refusal (if any) is one we stand by, with google.rpc details.

    A body over the server's limit is gRPC's own RESOURCE_EXHAUSTED, unread and without details.
    """
    error = await _status(system, method, body)
    if len(body) > _limit(system, method):
        assert error is not None
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, method.full_name
        return
    if error is None:
        return
    where = f"{method.full_name}: {error.code()} {error.details()}"
    assert error.code() not in _NEVER, where
    assert details_of(error), f"{where} (no google.rpc details)"


_METHOD = st.sampled_from(_METHODS)


async def test_every_largest_valid_request_fits_and_one_byte_more_does_not(
    system: _System,
) -> None:
    for method in _METHODS:
        body = largest_request(method.input_type.full_name).SerializeToString()
        error = await _status(system, method, body)
        assert error is None or error.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED, (
            f"{method.full_name}: {error.code()} {error.details()}"
        )
        over = await _status(system, method, b"\0" * (_limit(system, method) + 1))
        assert over is not None
        assert over.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, method.full_name


@_PROFILE
@given(method=_METHOD, body=st.binary(max_size=300))
async def test_random_bytes_never_fail_as_unknown_or_internal(
    system: _System, method: MethodDescriptor, body: bytes
) -> None:
    await _call(system, method, body)


@_PROFILE
@given(data=st.data(), method=_METHOD)
async def test_adversarial_messages_never_fail_as_unknown_or_internal(
    system: _System, data: st.DataObject, method: MethodDescriptor
) -> None:
    request = data.draw(messages(method.input_type, _NAMES), label=method.full_name)
    await _call(system, method, request.SerializeToString())
