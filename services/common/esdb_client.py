"""The services' event store client: a reconnect retires the old connection instead of cutting it.

esdbclient's ``AsyncEventStoreDBClient.reconnect`` (what any task does after NotLeader or an
unavailable node) opens a new connection and closes the old one at once, with every call still
in flight on it, other tasks' included: their reads end quietly truncated, their subscriptions
end, their BatchAppends are cancelled or wait out their deadline, and the reconnecting task
waits for the old channel's close (up to 5 s) while every other task that needs the new
connection waits behind it.

``LeaderFollowingClient`` swaps the new connection in the same way and then *retires* the old
one: it is closed in the background once the gRPC calls in flight on it have ended, or after
``grace`` seconds (a node that stepped down ends its calls itself; what outlives the grace is
cut, as before). ``close()`` closes the retired connections too.

Knowing which calls are in flight uses esdbclient internals: the client's ``_connection``,
``_connect``, ``_reconnection_lock`` and ``_is_reconnection_required``, and the gRPC stub
(``_stub``) of each of a connection's services, whose methods are wrapped to count the calls
they start. They are checked at construction and at ``connect()``; if an upgrade moved any,
the client logs one warning and reconnects as esdbclient does.

Each call started through those stubs also gets grpc_request_writers' remedy for grpc.aio's
request-writing task that a call cancelled as it started leaves pending forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
from esdbclient import AsyncEventStoreDBClient
from esdbclient.connection import AsyncESDBConnection
from esdbclient.exceptions import (
    AccessDeniedError,
    CancelledByClient,
    DeadlineExceeded,
    DiscoveryFailed,
    GrpcError,
    NodeIsNotLeader,
)

from services.common import grpc_request_writers
from services.common.logs import get_logger

__all__ = ["STORE_UNREACHABLE", "LeaderFollowingClient", "store_refusal"]

# What an esdbclient call raises when its node went away, stepped down or has no leader yet,
# or when another task's reconnect closed the client's channel under it (CancelledByClient;
# callers re-raise a cancellation of their own task first): an outage to wait out. So is a
# store with users on that refuses our user (AccessDeniedError from an append; a refused read
# is a GrpcError): a grant is missing until an admin restores it (docs/security.md).
STORE_UNREACHABLE: tuple[type[BaseException], ...] = (
    AccessDeniedError,
    CancelledByClient,
    GrpcError,
    DeadlineExceeded,
    DiscoveryFailed,
    NodeIsNotLeader,
    grpc.RpcError,
    grpc.aio.UsageError,
)

_REFUSALS = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def store_refusal(error: BaseException) -> str | None:
    """What the event store said when it refused our user (bad credentials, or an ACL
    without our grant: docs/security.md); None when ``error`` is something else."""
    if isinstance(error, AccessDeniedError):
        return "PERMISSION_DENIED: Access Denied"
    cause = error.args[0] if isinstance(error, GrpcError) and error.args else error
    if isinstance(cause, grpc.RpcError):
        call: grpc.Call = cause  # type: ignore[assignment]
        if call.code() in _REFUSALS:
            return f"{call.code().name}: {call.details()}"
    return None


RETIRE_GRACE_SECONDS = 5.0
"""Longest a retired connection stays open for the calls still in flight on it."""

_log = get_logger(__name__)
_SERVICES = ("streams", "persistent_subscriptions", "projections", "gossip")
_MULTICALLABLES = (
    grpc.aio.UnaryUnaryMultiCallable,
    grpc.aio.UnaryStreamMultiCallable,
    grpc.aio.StreamUnaryMultiCallable,
    grpc.aio.StreamStreamMultiCallable,
)
_FALLBACK = (
    "esdbclient internals missing: a reconnect closes the old event store connection at once, "
    "with the calls still in flight on it (esdbclient's own behaviour)"
)
_NO_SETTLING = (
    "grpc.aio internals missing: a call cancelled as it started may leave its request writer "
    "pending (asyncio then logs 'Task was destroyed but it is pending!')"
)


class _InFlight:
    """The gRPC calls started on one connection that have not ended yet."""

    def __init__(self) -> None:
        self.count = 0
        self._none = asyncio.Event()
        self._none.set()

    def add(self, call: grpc.aio.Call) -> None:
        self.count += 1
        self._none.clear()
        call.add_done_callback(self._ended)

    def _ended(self, _call: object) -> None:
        self.count -= 1
        if self.count == 0:
            self._none.set()

    def release(self) -> None:
        """Stop waiting for the calls (the client is closing)."""
        self._none.set()

    async def ended(self) -> None:
        """Return once no call is in flight (or ``release`` was called)."""
        await self._none.wait()


def _counting(
    method: Callable[..., Any], calls: _InFlight, *, settle_writers: bool
) -> Callable[..., Any]:
    """``method`` (a stub's multicallable), counting each call it starts until that call ends
    (and, with ``settle_writers``, making sure the task writing its requests ends too)."""

    def start(*args: Any, **kwargs: Any) -> Any:
        call = method(*args, **kwargs)
        calls.add(call)
        if settle_writers:
            grpc_request_writers.settle_request_writer(call)
        return call

    return start


def _stubs(connection: object) -> list[Any]:
    """The gRPC stubs of the connection's services; AttributeError or TypeError when an
    esdbclient upgrade moved them or they hold something else than gRPC's multicallables."""
    stubs = []
    for name in _SERVICES:
        service: Any = getattr(connection, name)
        stubs.append(service._stub)
    for stub in stubs:
        methods = vars(stub)
        if not methods or not all(isinstance(m, _MULTICALLABLES) for m in methods.values()):
            raise TypeError(f"{type(stub).__name__} holds no gRPC multicallables")
    return stubs


def _count_calls(connection: object, *, settle_writers: bool) -> _InFlight:
    """Count every call started on ``connection`` from now on (its stubs' methods wrapped)."""
    calls = _InFlight()
    for stub in _stubs(connection):
        for name, method in list(vars(stub).items()):
            setattr(stub, name, _counting(method, calls, settle_writers=settle_writers))
    return calls


def _client_internals_missing(client: AsyncEventStoreDBClient) -> list[str]:
    """The client internals a retiring reconnect relies on that ``client`` lacks."""
    missing = []
    if not isinstance(getattr(client, "_reconnection_lock", None), asyncio.Lock):
        missing.append("_reconnection_lock")
    if not isinstance(getattr(client, "_is_reconnection_required", None), asyncio.Event):
        missing.append("_is_reconnection_required")
    connect = getattr(client, "_connect", None)
    if not (
        inspect.iscoroutinefunction(connect)
        and "grpc_target" in inspect.signature(connect).parameters
    ):
        missing.append("_connect(grpc_target)")
    return missing


def _connection_internals_missing(connection: object) -> list[str]:
    """The connection internals a retiring reconnect relies on that ``connection`` lacks."""
    missing = []
    if not inspect.iscoroutinefunction(getattr(connection, "close", None)):
        missing.append("connection.close()")
    try:
        _stubs(connection)
    except (AttributeError, TypeError) as error:
        missing.append(f"connection services' _stub ({error})")
    return missing


class LeaderFollowingClient(AsyncEventStoreDBClient):
    """``AsyncEventStoreDBClient`` whose reconnect retires the old connection (closed once the
    calls in flight on it ended, or after ``grace`` seconds) instead of closing it under them.
    """

    def __init__(
        self,
        uri: str,
        root_certificates: str | bytes | None = None,
        private_key: str | bytes | None = None,
        certificate_chain: str | bytes | None = None,
        *,
        grace: float = RETIRE_GRACE_SECONDS,
    ) -> None:
        super().__init__(
            uri,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
        )
        self._grace = grace
        self._calls: _InFlight | None = None  # of the current connection; None: esdbclient's way
        self._retired: dict[asyncio.Task[None], _InFlight] = {}
        self._fallen_back = False
        missing = _client_internals_missing(self)
        if missing:
            self._fall_back(missing)
        missing = grpc_request_writers.missing_internals()
        self._settle_writers = not missing
        if missing:
            _log.warning(_NO_SETTLING, missing=missing)

    @property
    def retires(self) -> bool:
        """Whether a reconnect retires the old connection (False: esdbclient's reconnect)."""
        return self._calls is not None

    @property
    def retired(self) -> int:
        """Retired connections not closed yet."""
        return len(self._retired)

    def _fall_back(self, missing: list[str]) -> None:
        self._fallen_back = True
        self._calls = None
        _log.warning(_FALLBACK, missing=missing)

    async def connect(self) -> None:
        """Connect as esdbclient does; then count the calls started on the connection."""
        await super().connect()
        if self._fallen_back:
            return
        connection = getattr(self, "_connection", None)
        missing = (
            _connection_internals_missing(connection) if connection is not None else ["_connection"]
        )
        if missing:
            self._fall_back(missing)
        else:
            self._calls = _count_calls(connection, settle_writers=self._settle_writers)

    async def reconnect(self, grpc_target: str | None = None) -> None:
        """Connect again (to ``grpc_target``, else to the node discovery prefers) and retire
        the old connection; concurrent reconnects of several tasks make one new connection."""
        if self._calls is None:
            await super().reconnect(grpc_target)
            return
        wanted = self._is_reconnection_required
        wanted.set()
        async with self._reconnection_lock:
            if not wanted.is_set():
                return  # another task reconnected while this one waited for the lock
            new = await self._connect(grpc_target=grpc_target)
            old, old_calls = self._connection, self._calls
            self._connection = new
            self._calls = _count_calls(new, settle_writers=self._settle_writers)
            wanted.clear()
        task = asyncio.get_running_loop().create_task(
            self._close_when_idle(old, old_calls), name="esdb-retired-connection"
        )
        self._retired[task] = old_calls
        task.add_done_callback(self._retired.pop)

    async def _close_when_idle(self, connection: AsyncESDBConnection, calls: _InFlight) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._grace):
                await calls.ended()
        if calls.count:
            _log.info(
                "closing a retired event store connection with calls still in flight",
                calls=calls.count,
                target=connection.grpc_target,
            )
        try:
            await connection.close()
        except Exception as error:  # a background task: nobody else would see it
            _log.warning("closing a retired event store connection failed", error=repr(error))

    async def close(self) -> None:
        """Close the connection, and the retired ones without waiting for their calls."""
        for calls in self._retired.values():
            calls.release()
        await asyncio.gather(*self._retired)
        await super().close()
