"""The Appender both EventStoreDB writers use, and its plain form: esdbclient's append_to_stream."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import EventStoreDBClientException, ServiceUnavailable, UnknownError
from esdbclient.protos.Grpc import shared_pb2, status_pb2
from google.protobuf import any_pb2

from services.common.cancellation import raise_if_cancelling

__all__ = ["Appender", "StockAppender", "is_refusal"]

# The in-band BatchAppend errors that answer the request itself (esdbclient raises a precise
# exception for each). Any other error status (EventStoreDB sends an empty detail when the node
# is not ready, too busy, or has no leader during an election) is an outage of the node.
_REFUSALS = (
    shared_pb2.WrongExpectedVersion,
    shared_pb2.StreamDeleted,
    shared_pb2.AccessDenied,
    shared_pb2.MaximumAppendSizeExceeded,
    shared_pb2.BadRequest,
    shared_pb2.Timeout,
    shared_pb2.InvalidTransaction,
)


def is_refusal(error: status_pb2.Status) -> bool:
    """Whether a BatchAppend error status refuses the request (else: the node cannot write)."""
    return any(error.details.Is(kind.DESCRIPTOR) for kind in _REFUSALS)


def _outage(error: EventStoreDBClientException) -> ServiceUnavailable | None:
    """esdbclient's exception for an in-band outage (a bare one carrying the detail) translated."""
    if isinstance(error, UnknownError) or (
        type(error) is EventStoreDBClientException
        and error.args
        and isinstance(error.args[0], any_pb2.Any)
    ):
        return ServiceUnavailable(f"the event store did not take the append: {error!r}")
    return None


class Appender(Protocol):
    """Appends events to one stream atomically, with esdbclient's semantics and exceptions."""

    async def append(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        *,
        deadline: float,
    ) -> int:
        """Append expecting ``current_version``; the commit position."""
        ...

    def close(self) -> None:
        """Release what the appender holds (before the client closes)."""
        ...


class StockAppender:
    """Each append is ``AsyncEventStoreDBClient.append_to_stream``: the library's public API.

    It opens one BatchAppend call per append, reconnects when the connection broke (finding
    the leader again in a cluster) and retries once. An in-band error that is not a refusal
    (no leader during an election, not ready, too busy) raises ``ServiceUnavailable``.
    """

    def __init__(self, client: AsyncEventStoreDBClient) -> None:
        self._client = client

    async def append(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        *,
        deadline: float,
    ) -> int:
        """Append atomically; the commit position. Raises what esdbclient raises.

        A call whose channel another task's reconnect closed (esdbclient closes the old channel
        under every call in flight, and this one then ends in a ``CancelledError`` although no
        one cancelled this task) is sent once more, on the new channel: the same event ids make
        a repeat of an append the store already committed a no-op.
        """
        try:
            return await self._append_once(stream, current_version, events, deadline)
        except asyncio.CancelledError:
            raise_if_cancelling()
        return await self._append_once(stream, current_version, events, deadline)

    async def _append_once(
        self,
        stream: str,
        current_version: int | StreamState,
        events: Sequence[NewEvent],
        deadline: float,
    ) -> int:
        try:
            position: int = await self._client.append_to_stream(
                stream, current_version=current_version, events=events, timeout=deadline
            )
        except EventStoreDBClientException as error:
            outage = _outage(error)
            if outage is None:
                raise
            raise outage from error
        return position

    def close(self) -> None:
        """Nothing is held between appends."""
