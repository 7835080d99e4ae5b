"""Appends over kept-open BatchAppend calls: saves setting up and tearing down a call per append.

esdbclient's ``append_to_stream`` opens a BatchAppend stream per append, writes one request,
reads one response and cancels the call: setting up and tearing down that call costs more
client CPU than the append itself. ``PooledAppender`` keeps idle calls in a pool and sends each
append as one request (``is_final``, its own correlation id) on a call no other append is using,
so appends still run concurrently (one call each) and the store still commits them together.

A call is returned to the pool only after its request was answered (success or a refusal such
as a wrong expected version); on any other end (transport error, timeout, cancellation) it is
cancelled and dropped, because a late reply could otherwise be read by the next append. An
in-band error that is not a refusal (EventStoreDB's answer while it has no leader, is not ready
or is too busy) drops the call and the pool and raises ``ServiceUnavailable``: the next append
opens a fresh call, which reaches the new leader through the stock path's reconnect. When a
kept-open call breaks, the append goes to the stock path (``StockAppender``), which reconnects
(and rediscovers the leader in a cluster) and retries once, so failover behaves as with the
stock client. The server-side deadline travels in the request's options, as esdbclient sends it.

Opening a call and building its requests use esdbclient internals. ``start`` (after the client
connected) checks every one of them; if an upgrade moved any, the appender logs one warning and
sends every append through the stock path instead.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import uuid
from collections.abc import Sequence
from typing import Any

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import DeadlineExceeded, ServiceUnavailable

from services.command.adapters.esdb_appends import StockAppender, is_refusal
from services.common.cancellation import raise_if_cancelling
from services.common.logs import get_logger

__all__ = ["PooledAppender", "missing_internals"]

_POOL_LIMIT = 64  # idle calls kept; more concurrent appends open (and later drop) extra ones
_log = get_logger(__name__)
_STREAMS = "esdbclient.streams"
_CLIENT = "client"

# Every esdbclient internal the pooled path touches: where it lives (a module, or the connected
# client), its dotted path there, and the parameters this module passes it by name.
_INTERNALS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        _STREAMS,
        "BaseStreamsService._construct_batch_append_req",
        ("stream_name", "current_version", "events", "correlation_id", "timeout"),
    ),
    (
        _STREAMS,
        "BaseStreamsService._convert_batch_append_resp",
        ("response", "stream_name", "current_version"),
    ),
    ("esdbclient.protos.Grpc.streams_pb2", "BatchAppendResp", ()),
    (_CLIENT, "_call_metadata", ()),
    (_CLIENT, "_call_credentials", ()),
    (_CLIENT, "_connection.streams._stub.BatchAppend", ()),
    (_CLIENT, "_connection.streams._metadata", ("metadata", "requires_leader")),
)


def _lookup(root: object, path: str, parameters: tuple[str, ...]) -> Any:
    found: Any = root
    for name in path.split("."):
        found = getattr(found, name)
    if parameters:
        absent = set(parameters) - set(inspect.signature(found).parameters)
        if absent:
            raise TypeError(f"{path} takes no {sorted(absent)}")
    return found


def _resolve(client: AsyncEventStoreDBClient) -> tuple[dict[str, Any], list[str]]:
    found: dict[str, Any] = {}
    missing: list[str] = []
    for where, path, parameters in _INTERNALS:
        try:
            root = client if where == _CLIENT else importlib.import_module(where)
            found[path] = _lookup(root, path, parameters)
        except (AttributeError, ImportError, TypeError, ValueError):
            missing.append(path if where == _CLIENT else f"{where}.{path}")
    return found, missing


def missing_internals(client: AsyncEventStoreDBClient) -> list[str]:
    """The esdbclient internals the pooled path needs that this connected client lacks."""
    return _resolve(client)[1]


class PooledAppender:
    """``append(stream, current_version, events)`` with esdbclient's semantics and errors.

    Call :meth:`start` once the client is connected (the first append does it otherwise).
    """

    def __init__(self, client: AsyncEventStoreDBClient) -> None:
        self._client = client
        self._stock = StockAppender(client)
        self._idle: list[tuple[object, Any]] = []  # (connection it belongs to, call)
        self._checked = False
        self._pooled = False
        self._construct: Any = None
        self._convert: Any = None
        self._response: type[Any] = type(None)

    @property
    def pooled(self) -> bool:
        """Whether appends use kept-open calls (False: the stock path, after a failed check)."""
        return self._pooled

    def start(self) -> bool:
        """Check every internal once; if one is missing, warn once and use the stock path."""
        if not self._checked:
            self._checked = True
            found, missing = _resolve(self._client)
            if missing:
                self._stock_from_now("esdbclient internals missing", missing=missing)
            else:
                self._construct = found["BaseStreamsService._construct_batch_append_req"]
                self._convert = found["BaseStreamsService._convert_batch_append_resp"]
                self._response = found["BatchAppendResp"]
                self._pooled = True
        return self._pooled

    def _stock_from_now(self, reason: str, **details: object) -> None:
        self._pooled = False
        self.close()
        _log.warning(f"{reason}; appends use esdbclient's append_to_stream", **details)

    def _take(self) -> tuple[object, Any]:
        client: Any = self._client
        current = client._connection
        while self._idle:
            connection, call = self._idle.pop()
            if connection is current and not call.done():
                return connection, call
            call.cancel()
        streams = current.streams
        call = streams._stub.BatchAppend(
            metadata=streams._metadata(client._call_metadata, requires_leader=True),
            credentials=client._call_credentials,
        )
        return current, call

    async def append(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        *,
        deadline: float,
    ) -> int:
        """Append atomically; the commit position. Raises what esdbclient would raise."""
        if not self._checked:
            self.start()
        if not self._pooled:
            return await self._stock.append(stream, current_version, events, deadline=deadline)
        try:
            request = self._construct(
                stream_name=stream,
                current_version=current_version,
                events=events,
                correlation_id=uuid.uuid4(),
                timeout=deadline,
            )
            connection, call = self._take()
        except (AttributeError, TypeError) as error:  # an internal changed after the check
            self._stock_from_now("an esdbclient internal changed", error=repr(error))
            return await self._stock.append(stream, current_version, events, deadline=deadline)
        try:
            async with asyncio.timeout(deadline):
                await call.write(request)
                response = await call.read()
        except TimeoutError:
            call.cancel()
            raise DeadlineExceeded from None
        except asyncio.CancelledError:
            call.cancel()
            raise_if_cancelling()  # else another task's reconnect closed the call's channel
            return await self._fallback(stream, current_version, events, deadline)
        except (KeyboardInterrupt, SystemExit):
            call.cancel()
            raise
        except Exception:  # the kept-open call broke (server restart, leader change, ...)
            call.cancel()
            return await self._fallback(stream, current_version, events, deadline)
        if not isinstance(response, self._response) or (
            response.correlation_id != request.correlation_id
        ):  # the call ended without an answer
            call.cancel()
            return await self._fallback(stream, current_version, events, deadline)
        if response.WhichOneof("result") == "error" and not is_refusal(response.error):
            call.cancel()
            self.close()  # the node cannot write now: none of its calls is worth keeping
            raise ServiceUnavailable(
                f"the event store did not take the append: {response.error.message!r}"
            )
        if len(self._idle) < _POOL_LIMIT:
            self._idle.append((connection, call))
        else:
            call.cancel()
        position: int = self._convert(response, stream, current_version)
        return position

    async def _fallback(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        deadline: float,
    ) -> int:
        """The stock append: it reconnects (rediscovering the leader) and retries once.

        Re-sending is safe: the event ids are the same, so a store that already committed the
        first attempt answers the retry idempotently. The pool is dropped: its calls belong to
        a connection that may be gone.
        """
        self.close()
        return await self._stock.append(stream, current_version, events, deadline=deadline)

    def close(self) -> None:
        """Cancel the idle calls (before closing the client)."""
        idle, self._idle = self._idle, []
        for _, call in idle:
            call.cancel()
