"""Every limit of services/common/limits.py and call_limits.py, on a real server on loopback.

Half-open and idle connections are closed, a connection's streams are capped, a client over
its rate gets RESOURCE_EXHAUSTED with RetryInfo, a client's watchers are capped, and a unary
call without a deadline ends at the server's.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from protos.rover.v1 import query_pb2
from services.common.call_limits import CallLimitsInterceptor
from services.common.grpc_server import GrpcServer, Service
from services.common.limits import LimitSettings
from services.common.rich_errors import details_of
from tests.support.http2 import MAX_CONCURRENT_STREAMS, PREFACE, advertised_settings
from tests.support.refusals import assert_refusal

pytestmark = pytest.mark.slow

_HOLD = "/test.v1.Limits/Hold"  # unary: waits until released
_STREAM = "/test.v1.Limits/Stream"  # server streaming: one message, then waits
_GUARD = 30.0  # a hang guard only: every wait below ends on an event, not on time


class _Limits:
    """The test service: counts the calls that entered, holds them until ``release`` is set."""

    def __init__(self) -> None:
        self.entered = 0
        self.held: list[bytes] = []  # the held calls' requests, in the order they entered
        self.changed = asyncio.Condition()
        self.release = asyncio.Event()
        self.stream_ended = asyncio.Event()

    async def _enter(self) -> None:
        async with self.changed:
            self.entered += 1
            self.changed.notify_all()

    async def until_entered(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.entered >= count), _GUARD)

    async def hold(self, request: bytes, context: object) -> bytes:
        self.held.append(request)
        await self._enter()
        await self.release.wait()
        return request

    async def hold_query(self, request: query_pb2.GetGridDetailsRequest, context: object) -> bytes:
        return await self.hold(f"query {request.min_version}".encode(), context)

    async def stream(self, request: bytes, context: object) -> AsyncIterator[bytes]:
        await self._enter()
        try:
            yield request
            await self.release.wait()
        finally:
            self.stream_ended.set()  # before the limits' wrapper frees the slot, in one step

    def service(self) -> Service:
        handler = grpc.method_handlers_generic_handler(
            "test.v1.Limits",
            {
                "Hold": grpc.unary_unary_rpc_method_handler(self.hold),
                "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
            },
        )
        # A long poll's name (services/common/call_limits.py _LONG_POLLS), held like Hold.
        poll = grpc.method_handlers_generic_handler(
            "rover.v1.RoverCommandService",
            {"GetCommandResult": grpc.unary_unary_rpc_method_handler(self.hold)},
        )
        # A query that may wait for a version (services/common/call_limits.py _WAITS).
        query = grpc.method_handlers_generic_handler(
            "rover.v1.RoverQueryService",
            {
                "GetGridDetails": grpc.unary_unary_rpc_method_handler(
                    self.hold_query,
                    request_deserializer=query_pb2.GetGridDetailsRequest.FromString,
                )
            },
        )
        return Service(
            "test.v1.Limits",
            lambda server: server.add_generic_rpc_handlers([handler, poll, query]),
        )


@asynccontextmanager
async def _server(
    limits: LimitSettings, *, clock: Any = None
) -> AsyncIterator[tuple[_Limits, str]]:
    service = _Limits()
    extra = {} if clock is None else {"clock": clock}
    server = GrpcServer(
        "127.0.0.1:0",
        [service.service()],
        limits=limits,
        interceptors=[CallLimitsInterceptor(limits, **extra)],
    )
    port = await server.start()
    try:
        yield service, f"127.0.0.1:{port}"
    finally:
        service.release.set()
        await server.stop(0)


def _hold(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(_HOLD)


def _stream(channel: grpc.aio.Channel) -> Any:
    return channel.unary_stream(_STREAM)


def _limits(**values: Any) -> LimitSettings:
    return LimitSettings.model_construct(**values)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (TimeoutError if it never)."""
    sock.settimeout(_GUARD)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


async def test_half_open_connections_are_closed_after_the_handshake_timeout() -> None:
    async with _server(_limits(grpc_handshake_timeout_seconds=0.3)) as (_, target):
        host, port = target.split(":")
        sockets = [socket.create_connection((host, int(port))) for _ in range(20)]
        try:
            for sock in sockets:
                sock.sendall(PREFACE[:10])  # a partial HTTP/2 preface, then nothing
            closed = await asyncio.gather(
                *(asyncio.to_thread(_read_until_closed, sock) for sock in sockets)
            )
        finally:
            for sock in sockets:
                sock.close()
    assert len(closed) == 20  # every one ended (EOF) instead of being held open


async def test_the_stream_limit_is_advertised_and_a_connection_beyond_it_waits() -> None:
    async with _server(_limits(grpc_max_concurrent_streams=2)) as (service, target):
        assert advertised_settings(target)[MAX_CONCURRENT_STREAMS] == 2

        async with (
            grpc.aio.insecure_channel(target) as one,
            grpc.aio.insecure_channel(
                target, options=[("grpc.use_local_subchannel_pool", 1)]
            ) as two,
        ):
            hold = _hold(one)
            calls = [asyncio.ensure_future(hold(b"a")), asyncio.ensure_future(hold(b"b"))]
            await service.until_entered(2)
            third = asyncio.ensure_future(hold(b"c"))
            # Another connection is served at once: the server is not busy, the first
            # connection is at its limit, so its third call waits for a stream.
            other = asyncio.ensure_future(_hold(two)(b"d"))
            await service.until_entered(3)
            assert not third.done()
            assert service.entered == 3
            service.release.set()
            assert await asyncio.gather(*calls, third, other) == [b"a", b"b", b"c", b"d"]
            assert service.entered == 4


async def test_an_idle_connection_is_closed() -> None:
    async with _server(_limits(grpc_max_connection_idle_seconds=0.3)) as (service, target):
        service.release.set()
        async with grpc.aio.insecure_channel(target) as channel:
            assert await _hold(channel)(b"x") == b"x"
            assert channel.get_state() == grpc.ChannelConnectivity.READY
            # The server's GOAWAY after the idle time moves the channel out of READY.
            await asyncio.wait_for(
                channel.wait_for_state_change(grpc.ChannelConnectivity.READY), _GUARD
            )
            assert channel.get_state() != grpc.ChannelConnectivity.READY
            assert await _hold(channel)(b"y") == b"y"  # reconnects on demand


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_client_over_its_rate_gets_resource_exhausted_with_retry_info() -> None:
    clock = _Clock()
    limits = _limits(rate_limit_per_second=2.0, rate_limit_burst=3, rate_limit_clients=100)
    async with _server(limits, clock=clock) as (service, target):
        service.release.set()
        async with grpc.aio.insecure_channel(target) as channel:
            hold = _hold(channel)
            alice = [("authorization", "Bearer alice")]
            for _ in range(3):
                assert await hold(b"x", metadata=alice) == b"x"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await hold(b"x", metadata=alice)
            # Another token has a bucket of its own.
            assert await hold(b"x", metadata=[("authorization", "Bearer bob")]) == b"x"
            clock.now += 0.5  # one call's worth at 2/s
            assert await hold(b"x", metadata=alice) == b"x"
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "ROVER_RATE_LIMIT_PER_SECOND" in (error.details() or "")
    details = {type(d): d for d in details_of(error)}
    retry = details[error_details_pb2.RetryInfo]
    assert retry.retry_delay.ToNanoseconds() == 500_000_000  # type: ignore[attr-defined]
    quota = details[error_details_pb2.QuotaFailure]
    assert quota.violations[0].subject == "client (bearer token)"  # type: ignore[attr-defined]
    assert details[error_details_pb2.ErrorInfo].reason == "RATE_LIMITED"  # type: ignore[attr-defined]


async def test_a_client_with_too_many_watchers_is_refused_until_one_ends() -> None:
    limits = _limits(max_watchers_per_client=2)
    async with _server(limits) as (service, target), grpc.aio.insecure_channel(target) as channel:
        stream = _stream(channel)
        alice = [("authorization", "Bearer alice")]
        open_ = [stream(b"w", metadata=alice) for _ in range(2)]
        for call in open_:
            assert await call.read() == b"w"
        refused = stream(b"w", metadata=alice)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await refused.read()
        other = stream(b"w", metadata=[("authorization", "Bearer bob")])
        assert await other.read() == b"w"
        open_[0].cancel()
        await asyncio.wait_for(service.stream_ended.wait(), _GUARD)
        again = stream(b"w", metadata=alice)  # the cancelled stream's slot is free again
        assert await again.read() == b"w"
        for call in (open_[1], other, again):
            call.cancel()
    assert_refusal(
        caught.value,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "ROVER_MAX_WATCHERS_PER_CLIENT",
        "TOO_MANY_WATCHERS",
    )


async def test_a_unary_call_without_a_deadline_ends_at_the_servers() -> None:
    limits = _limits(server_deadline_seconds=0.2)
    async with _server(limits) as (_, target), grpc.aio.insecure_channel(target) as channel:
        hold = _hold(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await hold(b"x")  # no deadline of its own
        with pytest.raises(grpc.aio.AioRpcError) as shorter:
            await hold(b"x", timeout=0.05)  # the client's shorter deadline applies
    assert_refusal(
        caught.value,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "ROVER_SERVER_DEADLINE_SECONDS",
        "SERVER_DEADLINE_EXCEEDED",
    )
    assert shorter.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert details_of(shorter.value) == []


async def test_a_client_pinging_too_often_is_sent_away() -> None:
    limits = _limits(grpc_min_client_ping_interval_seconds=1.0, grpc_max_ping_strikes=1)
    pinging = [
        ("grpc.keepalive_time_ms", 20),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    async with (
        _server(limits) as (service, target),
        grpc.aio.insecure_channel(target, options=pinging) as channel,
    ):
        service.release.set()
        assert await _hold(channel)(b"x") == b"x"
        # GOAWAY (ENHANCE_YOUR_CALM, too_many_pings) after the strikes: the channel leaves READY.
        await asyncio.wait_for(
            channel.wait_for_state_change(grpc.ChannelConnectivity.READY), _GUARD
        )
        assert channel.get_state() != grpc.ChannelConnectivity.READY


async def test_a_flooding_client_waits_behind_its_own_calls_not_others() -> None:
    limits = _limits(max_calls_in_flight_per_client=2, max_waiting_calls_per_client=1)
    async with _server(limits) as (service, target), grpc.aio.insecure_channel(target) as channel:
        hold = _hold(channel)
        alice = [("authorization", "Bearer alice")]
        running = [asyncio.ensure_future(hold(b"a", metadata=alice)) for _ in range(2)]
        await service.until_entered(2)
        waiting = asyncio.ensure_future(hold(b"w", metadata=alice))
        bob = asyncio.ensure_future(hold(b"b", metadata=[("authorization", "Bearer bob")]))
        await service.until_entered(3)  # bob's call runs at once: alice's third one waits
        assert not waiting.done()
        assert service.entered == 3
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await hold(b"x", metadata=alice)  # alice's queue (1) is full
        service.release.set()
        assert await asyncio.gather(*running, waiting, bob) == [b"a", b"a", b"w", b"b"]
    assert_refusal(
        caught.value,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "ROVER_MAX_CALLS_IN_FLIGHT_PER_CLIENT",
        "TOO_MANY_CALLS_IN_FLIGHT",
    )


async def test_while_others_call_a_token_runs_one_call_at_a_time_but_not_its_waits() -> None:
    limits = _limits(
        max_calls_in_flight_per_client=8,
        max_waiting_calls_per_client=10,
        contended_calls_in_flight_per_client=1,
    )
    async with _server(limits) as (service, target), grpc.aio.insecure_channel(target) as channel:
        hold = _hold(channel)

        def token(name: str) -> list[tuple[str, str]]:
            return [("authorization", f"Bearer {name}")]

        alone = [asyncio.ensure_future(hold(b"a", metadata=token("alice"))) for _ in range(2)]
        await service.until_entered(2)  # alone: side by side
        others = asyncio.ensure_future(hold(b"b", metadata=token("bob")))
        await service.until_entered(3)
        late = asyncio.ensure_future(hold(b"late", metadata=token("alice")))  # contended
        marker = asyncio.ensure_future(hold(b"m", metadata=token("erin")))  # sent after it
        await service.until_entered(4)
        assert service.held[-1] == b"m"  # erin's first call ran; alice's third one waits

        # Carol waits on purpose (a result, a version) and still runs her next call beside.
        poll: Any = channel.unary_unary("/rover.v1.RoverCommandService/GetCommandResult")
        query: Any = channel.unary_unary(
            "/rover.v1.RoverQueryService/GetGridDetails",
            request_serializer=query_pb2.GetGridDetailsRequest.SerializeToString,
        )
        waits = [
            asyncio.ensure_future(poll(b"p", metadata=token("carol"))),
            asyncio.ensure_future(
                query(
                    query_pb2.GetGridDetailsRequest(grid_id="g", min_version=3),
                    metadata=token("carol"),
                )
            ),
        ]
        await service.until_entered(6)
        after_waits = asyncio.ensure_future(hold(b"n", metadata=token("carol")))
        await service.until_entered(7)
        # A client known by its address only is not held to the contention limit.
        anonymous = [asyncio.ensure_future(hold(b"x")) for _ in range(2)]
        await service.until_entered(9)
        assert b"late" not in service.held
        assert not late.done()
        service.release.set()
        assert await asyncio.gather(*alone, others, late, marker, after_waits, *anonymous) == [
            b"a", b"a", b"b", b"late", b"m", b"n", b"x", b"x"
        ]  # fmt: skip
        assert await asyncio.gather(*waits) == [b"p", b"query 3"]


async def test_without_a_token_a_client_is_its_address() -> None:
    limits = _limits(max_calls_in_flight_per_client=1, max_waiting_calls_per_client=0)
    async with (
        _server(limits) as (service, target),
        grpc.aio.insecure_channel(target) as one,
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as two,
    ):
        running = asyncio.ensure_future(_hold(one)(b"a"))
        await service.until_entered(1)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _hold(two)(b"b")  # another connection, the same address: the same client
        service.release.set()
        assert await running == b"a"
    assert_refusal(
        caught.value,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "ROVER_MAX_CALLS_IN_FLIGHT_PER_CLIENT",
        "TOO_MANY_CALLS_IN_FLIGHT",
    )
