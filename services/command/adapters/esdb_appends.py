"""Appends over kept-open BatchAppend calls instead of one new gRPC call per append.

esdbclient's ``append_to_stream`` opens a BatchAppend stream per append, writes one request,
reads one response and cancels the call: setting up and tearing down that call costs more
client CPU than the append itself. ``BatchAppender`` keeps idle calls in a pool and sends each
append as one request (``is_final``, its own correlation id) on a call no other append is using,
so appends still run concurrently (one call each) and the store still commits them together.

A call is returned to the pool only after its request was answered (success or a refusal such
as a wrong expected version); on any other end (transport error, timeout, cancellation) it is
cancelled and dropped, because a late reply could otherwise be read by the next append. When a
kept-open call breaks, the append falls back to esdbclient's own ``append_to_stream``, which
reconnects (and rediscovers the leader in a cluster) and retries once, so failover behaves as
with the stock client. The server-side deadline travels in the request's options, as
esdbclient sends it.

Caveat: opening a call uses esdbclient internals (its connection's stub, metadata and
credentials); ``tests/integration/command/test_batch_appender.py`` fails if an upgrade moves them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import DeadlineExceeded
from esdbclient.protos.Grpc import streams_pb2
from esdbclient.streams import BaseStreamsService

__all__ = ["BatchAppender"]

_POOL_LIMIT = 64  # idle calls kept; more concurrent appends open (and later drop) extra ones


class BatchAppender:
    """``append(stream, current_version, events)`` with esdbclient's semantics and errors."""

    def __init__(self, client: AsyncEventStoreDBClient) -> None:
        self._client = client
        self._idle: list[tuple[object, Any]] = []  # (connection it belongs to, call)

    def _open(self) -> tuple[object, Any]:
        client = self._client
        connection = client._connection  # private: no public stream API
        streams = connection.streams
        call = streams._stub.BatchAppend(
            metadata=streams._metadata(client._call_metadata, requires_leader=True),
            credentials=client._call_credentials,
        )
        return connection, call

    async def append(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        *,
        deadline: float,
    ) -> int:
        """Append atomically; the commit position. Raises what esdbclient would raise."""
        request = BaseStreamsService._construct_batch_append_req(
            stream_name=stream,
            current_version=current_version,
            events=events,
            correlation_id=uuid.uuid4(),
            timeout=deadline,
        )
        current = self._client._connection
        while self._idle:
            connection, call = self._idle.pop()
            if connection is current and not call.done():
                break
            call.cancel()
        else:
            connection, call = self._open()
        try:
            async with asyncio.timeout(deadline):
                await call.write(request)
                response = await call.read()
        except TimeoutError:
            call.cancel()
            raise DeadlineExceeded from None
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            call.cancel()
            raise
        except Exception:  # the kept-open call broke (server restart, leader change, ...)
            call.cancel()
            return await self._fallback(stream, current_version, events, deadline)
        if not isinstance(response, streams_pb2.BatchAppendResp) or (
            response.correlation_id != request.correlation_id
        ):  # the call ended without an answer
            call.cancel()
            return await self._fallback(stream, current_version, events, deadline)
        if len(self._idle) < _POOL_LIMIT:
            self._idle.append((connection, call))
        else:
            call.cancel()
        position: int = BaseStreamsService._convert_batch_append_resp(
            response, stream, current_version
        )
        return position

    async def _fallback(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        deadline: float,
    ) -> int:
        """esdbclient's own append: it reconnects (rediscovering the leader) and retries once.

        Re-sending is safe: the event ids are the same, so a store that already committed the
        first attempt answers the retry idempotently. The pool is dropped: its calls belong to
        a connection that may be gone.
        """
        self.close()
        position: int = await self._client.append_to_stream(
            stream, current_version=current_version, events=events, timeout=deadline
        )
        return position

    def close(self) -> None:
        """Cancel the idle calls (before closing the client)."""
        idle, self._idle = self._idle, []
        for _, call in idle:
            call.cancel()
