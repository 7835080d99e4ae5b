"""Per-call limits of every rover server: a rate per client, watchers per client, a deadline.

One interceptor (:class:`CallLimitsInterceptor`, wired in services/common/app.py inside auth,
so only authenticated calls count) wraps each rover.v1 method's handler once:

- every call first takes one token of its client's bucket (services/common/rate_limit.py,
  when ``ROVER_RATE_LIMIT_PER_SECOND`` is set); an empty bucket is RESOURCE_EXHAUSTED with
  RetryInfo (when to try again) and QuotaFailure;
- a server-streaming call (WatchGrid) holds one of its client's
  ``ROVER_MAX_WATCHERS_PER_CLIENT`` slots while it is open; none free is RESOURCE_EXHAUSTED;
- a unary call runs in one of its client's ``ROVER_MAX_CALLS_IN_FLIGHT_PER_CLIENT`` slots
  (``ROVER_CONTENDED_CALLS_IN_FLIGHT_PER_CLIENT`` for a token while other clients call),
  or waits behind that client's own calls (up to ``ROVER_MAX_WAITING_CALLS_PER_CLIENT``),
  so one client's flood does not queue other clients' calls behind all of it;
- a unary call runs at most ``ROVER_SERVER_DEADLINE_SECONDS`` (its wait for a slot
  included) when the client sent no deadline or a longer one, then ends DEADLINE_EXCEEDED.

A client is its bearer token (hashed, never kept) when it sends one, else its IP address.
Health checking and reflection pass untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from services.common.auth import OPEN_SERVICES
from services.common.client_slots import InFlight, Watchers
from services.common.handler_wrapping import Handler, HandlerWrappingInterceptor
from services.common.limits import LimitSettings
from services.common.rate_limit import RateLimiter
from services.common.request_limits import MAX_RESULT_WAIT_SECONDS
from services.common.rich_errors import abort, error_info

__all__ = ["CallLimitsInterceptor"]

# Calls that wait on purpose (a long poll): the server's deadline is the longest wait they
# may ask for on top of ROVER_SERVER_DEADLINE_SECONDS, so a wait is never cut as a hang.
_LONG_POLLS = {"rover.v1.RoverCommandService/GetCommandResult": float(MAX_RESULT_WAIT_SECONDS)}
# Which calls wait on purpose, by method (a long poll always; others by their request): they
# run in slots of their own, outside the contention limit, so that a client's wait never
# holds up its own other calls.
_WAITS: dict[str, Callable[[Any], bool]] = {
    **{method: lambda _request: True for method in _LONG_POLLS},
    "rover.v1.RoverQueryService/GetGridDetails": lambda request: (
        getattr(request, "min_version", 0) > 0
    ),
}

_Context = grpc.aio.ServicerContext[Any, Any]
_BEARER = "token:"  # the key of a client known by its bearer token


def _client_of(context: _Context) -> str:
    """Who a call counts against: ``token:<hash>`` with a bearer token, else ``peer:<host>``.

    The peer's host without its port (``ipv4:10.0.0.7``), so that one machine opening many
    connections is still one client; a unix socket's peer is one client.
    """
    for key, value in tuple(context.invocation_metadata() or ()):
        if key == "authorization":
            raw = value if isinstance(value, bytes) else value.encode()
            return _BEARER + hashlib.sha256(raw).hexdigest()[:16]
    peer: str = context.peer() or ""
    if peer.startswith(("ipv4:", "ipv6:")):
        peer = peer.rpartition(":")[0]
    return f"peer:{peer}"


class CallLimitsInterceptor(HandlerWrappingInterceptor):
    """Rate limit, calls in flight, watchers and deadline of every rover.v1 call (see module)."""

    def __init__(
        self, limits: LimitSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._deadline = limits.server_deadline_seconds
        self._rates = (
            RateLimiter(
                limits.rate_limit_per_second,
                limits.rate_limit_burst,
                clients=limits.rate_limit_clients,
                clock=clock,
            )
            if limits.rate_limit_per_second
            else None
        )
        self._rate = limits.rate_limit_per_second
        self._watchers = Watchers(limits.max_watchers_per_client)
        self._in_flight = InFlight(
            limits.max_calls_in_flight_per_client,
            limits.max_waiting_calls_per_client,
            shared=limits.contended_calls_in_flight_per_client,
            window=limits.contention_window_seconds,
            shares=lambda client: client.startswith(_BEARER),
            clock=clock,
        )
        self._waits = InFlight(  # calls that wait on purpose (_WAITS)
            limits.max_calls_in_flight_per_client, limits.max_waiting_calls_per_client
        )

    def wrap(self, method: str, handler: Handler) -> Handler:
        """``handler`` with the limits that apply to its kind (health and reflection: none)."""
        if method.lstrip("/").rpartition("/")[0] in OPEN_SERVICES or handler.request_streaming:
            return handler
        name = method.lstrip("/")
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(name, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            self._unary(name, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    async def _admit(self, method: str, client: str, context: _Context) -> None:
        """Take one call from the client's bucket, or end the call RESOURCE_EXHAUSTED."""
        wait = 0.0 if self._rates is None else self._rates.take(client)
        if not wait:
            return
        wait = max(wait, 0.001)  # RetryInfo and the message in whole milliseconds
        delay = Duration()
        delay.FromNanoseconds(round(wait * 1e9))
        by_token = client.startswith(_BEARER)
        await abort(
            context,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"rate limit of {self._rate:g} calls/s per client passed (ROVER_RATE_LIMIT_PER_SECOND);"
            f" retry {method} in {wait:.3f} s",
            error_details_pb2.RetryInfo(retry_delay=delay),
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=f"client ({'bearer token' if by_token else 'IP address'})",
                        description=f"{self._rate:g} calls per second",
                    )
                ]
            ),
            error_info("RATE_LIMITED", {"method": method, "retry_after_s": f"{wait:.3f}"}),
        )

    def _unary(self, method: str, inner: Any) -> Any:
        limit = self._deadline + _LONG_POLLS.get(method, 0.0) if self._deadline else 0.0

        async def behavior(request: object, context: _Context) -> object:
            client = _client_of(context)
            await self._admit(method, client, context)
            remaining = context.time_remaining()
            if not limit or (remaining is not None and remaining <= limit):
                return await self._in_turn(method, client, inner, request, context)
            timeout = asyncio.timeout(limit)
            try:
                async with timeout:
                    return await self._in_turn(method, client, inner, request, context)
            except TimeoutError:
                if not timeout.expired():
                    raise  # the handler's own TimeoutError, not our deadline
            await abort(
                context,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"{method} did not finish within the server's limit of {limit:g} s per call "
                "(ROVER_SERVER_DEADLINE_SECONDS); a command may still take effect: retry it "
                "with the same request_id",
                error_info("SERVER_DEADLINE_EXCEEDED", {"method": method, "limit_s": f"{limit:g}"}),
            )

        return behavior

    async def _in_turn(
        self, method: str, client: str, inner: Any, request: object, context: _Context
    ) -> object:
        """Run the call in one of the client's in-flight slots (after its earlier calls)."""
        waits = _WAITS.get(method)
        slots = self._waits if waits is not None and waits(request) else self._in_flight
        if not await slots.acquire(client):
            await abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this client may run {slots.allowed(client)} calls at once now "
                "(ROVER_MAX_CALLS_IN_FLIGHT_PER_CLIENT, or while other clients call "
                f"ROVER_CONTENDED_CALLS_IN_FLIGHT_PER_CLIENT) and has {slots.queue} more "
                "waiting, the most allowed (ROVER_MAX_WAITING_CALLS_PER_CLIENT): wait for some "
                "to end",
                error_info("TOO_MANY_CALLS_IN_FLIGHT", {"method": method}),
            )
        try:
            return await _awaited(inner(request, context))
        finally:
            slots.release(client)

    def _streaming(self, method: str, inner: Any) -> Any:
        watchers = self._watchers

        async def behavior(request: object, context: _Context) -> AsyncIterator[object]:
            client = _client_of(context)
            await self._admit(method, client, context)
            if not watchers.acquire(client):
                await abort(
                    context,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"this client already has {watchers.limit} open {method} streams, the most "
                    "allowed (ROVER_MAX_WATCHERS_PER_CLIENT): end one first",
                    error_info(
                        "TOO_MANY_WATCHERS", {"method": method, "limit": str(watchers.limit)}
                    ),
                )
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                watchers.release(client)

        return behavior


async def _awaited(result: object) -> object:
    return await result if inspect.isawaitable(result) else result
