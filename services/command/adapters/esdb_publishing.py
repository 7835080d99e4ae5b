"""EventStoreDB adapters of the publication ports: integration streams and the checkpoint
(the $all feed: esdb_feed.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound

from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_errors import translated
from services.command.application.errors import CheckpointUntrustedError, ConcurrencyError
from services.command.application.off_loop import is_large, off_loop
from services.common import tracing
from services.common.correlation import write_correlation
from services.common.envelope import Envelope, integration_stream
from services.common.esdb_publisher_checkpoint import read_checkpoint
from services.common.esdb_reads import whole_read
from services.common.integration import (
    INTEGRATION_CONTENT_TYPE,
    integration_event_type,
    to_proto,
)
from services.common.integration_signing import SIGNATURE_FIELD, IntegrationKeys, signed_bytes
from services.common.lease import LeaseLostError, holder_is_gone, new_holder_id
from services.common.publisher_checkpoint import (
    CHECKPOINT_EVENT_TYPE,
    CheckpointUnreadableError,
    encode_checkpoint,
)

__all__ = ["EsdbCheckpointStore", "EsdbIntegrationLog"]

_OCTETS: Literal["application/octet-stream"] = "application/octet-stream"
assert _OCTETS == INTEGRATION_CONTENT_TYPE  # the shared contract, typed for esdbclient


class EsdbIntegrationLog:
    """IntegrationLog on ``integration-{id}``: binary rover.v1.IntegrationEvent, octet-stream."""

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        *,
        timeout: float = 5.0,
        appender: Appender | None = None,
        keys: IntegrationKeys | None = None,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._appender = appender or StockAppender(client)
        self._keys = keys or IntegrationKeys()

    async def append(self, grid_id: str, envelopes: Sequence[Envelope]) -> None:
        """Append at revision ``sequence - 1`` of the first envelope; re-sends are no-ops.

        Traced as a PRODUCER span continuing the domain events' trace (services/common/
        tracing.consumer_span), which each integration event's metadata names.
        """
        stream = integration_stream(grid_id)
        first = envelopes[0].sequence
        current: int | StreamState = StreamState.NO_STREAM if first == 1 else first - 2
        with tracing.consumer_span(
            "rover.publish",
            (e.trace for e in envelopes),
            {"rover.grid_id": grid_id, "messaging.batch.message_count": len(envelopes)},
            kind=tracing.SpanKind.PRODUCER,
        ):
            events = await off_loop(
                lambda: [self._event(stream, e) for e in envelopes],
                large=is_large(e.event for e in envelopes),
            )
            with translated(stream, first - 1):
                await self._appender.append(stream, current, events, deadline=self._timeout)

    def _event(self, stream: str, envelope: Envelope) -> NewEvent:
        """The stored form of one envelope, signed (integration_signing.py) when keys are set."""
        event_type = integration_event_type(envelope.event)
        data = to_proto(envelope).SerializeToString()
        signature = self._keys.signature(
            signed_bytes(
                stream=stream,
                revision=envelope.sequence - 1,
                event_type=event_type,
                event_id=envelope.event_id,
                data=data,
            )
        )
        return NewEvent(
            type=event_type,
            data=data,
            metadata=_metadata(envelope, signature),
            content_type=_OCTETS,
            id=envelope.event_id,
        )

    async def last_sequence(self, grid_id: str) -> int:
        """Revision of the last event + 1; 0 for no stream."""
        stream = integration_stream(grid_id)
        with translated(stream):
            try:
                found = await whole_read(
                    self._client,
                    lambda: self._client.get_stream(
                        stream, backwards=True, limit=1, timeout=self._timeout
                    ),
                )
            except NotFound:
                return 0
        return found[0].stream_position + 1 if found else 0

    async def event_ids(self, grid_id: str, after_sequence: int, limit: int) -> list[uuid.UUID]:
        """Ids of the events at revisions ``after_sequence`` onwards."""
        stream = integration_stream(grid_id)
        with translated(stream):
            try:
                found = await whole_read(
                    self._client,
                    lambda: self._client.get_stream(
                        stream,
                        stream_position=after_sequence or None,
                        limit=limit,
                        timeout=self._timeout,
                    ),
                )
            except NotFound:
                return []
        return [r.id for r in found]


def _metadata(envelope: Envelope, signature: str | None) -> bytes:
    """An integration event's JSON metadata: when, why (services/common/correlation.py) and,
    when signing is on, who wrote it (services/common/integration_signing.py)."""
    body = write_correlation(
        {"occurred_at": envelope.occurred_at.isoformat()},
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        trace=tracing.continuing(envelope.trace),
    )
    if signature is not None:
        body[SIGNATURE_FIELD] = signature
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class _Latest:
    """The checkpoint stream's last event: its revision and what it says."""

    revision: int
    position: int | None
    holder: str
    ttl: float | None


class EsdbCheckpointStore:
    """CheckpointStore and the publisher's Lease, on one small stream (``$maxCount`` 1).

    Each event says the commit position published up to and which instance holds the lease
    (``holder``, '' once released). Every write of the holder (checkpoint save or renewal)
    appends at the revision of its previous write, so the store itself refuses a write after
    another instance took over: the checkpoint has one writer and never moves backwards.

    Expiry needs no clock shared between machines: a standby takes the lease once it has seen
    the same last revision for the holder's ttl on its own monotonic clock (the holder renews
    every second or so, and stops when it could not for that long).
    """

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        stream: str,
        *,
        timeout: float = 5.0,
        holder: str | None = None,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._stream = stream
        self._timeout = timeout
        self._holder = holder or new_holder_id()
        self._ttl = ttl
        self._monotonic = monotonic
        self._capped = False
        self._lock = asyncio.Lock()  # one write at a time: each expects the previous one
        self._revision: int | None = None  # of our last write, while we hold the lease
        self._position: int | None = None  # the last position written
        self._seen: tuple[int, float] | None = None  # a revision and when we first saw it
        self._last_holder = ""

    @property
    def holder(self) -> str:
        return self._holder

    def current_holder(self) -> str:
        return self._last_holder

    async def load(self) -> int | None:
        """The last saved commit position, None if never saved."""
        latest = await self._latest()
        return latest.position if latest else None

    async def save(self, position: int) -> None:
        """Record ``position``; LeaseLostError unless this instance still holds the lease."""
        async with self._lock:
            if not await self._write(position, self._holder):
                raise LeaseLostError(f"{self._stream} is held by another instance")
            self._position = position

    async def acquire(self) -> bool:
        async with self._lock:
            if self._revision is not None:  # held: confirmed by a write the store may refuse
                return await self._write(self._position, self._holder)
            latest = await self._latest()
            if latest is None:
                return await self._claim(None, StreamState.NO_STREAM)
            self._last_holder = latest.holder
            now = self._monotonic()
            if self._seen is None or self._seen[0] != latest.revision:
                self._seen = (latest.revision, now)
            ttl = latest.ttl if latest.ttl is not None else self._ttl
            free = not latest.holder or latest.holder == self._holder
            if free or holder_is_gone(latest.holder) or now - self._seen[1] >= ttl:
                return await self._claim(latest.position, latest.revision)
            return False

    async def renew(self) -> bool:
        async with self._lock:
            return await self._write(self._position, self._holder)

    async def release(self) -> None:
        async with self._lock:
            with contextlib.suppress(ConcurrencyError):  # taken over already: nothing to give
                await self._write(self._position, "")
            self._revision = None

    async def _claim(self, position: int | None, expected: int | StreamState) -> bool:
        self._position = position
        try:
            self._revision = await self._append(position, self._holder, expected)
        except ConcurrencyError:  # another standby was quicker
            self._position = None
            return False
        self._last_holder = self._holder
        return True

    async def _write(self, position: int | None, holder: str) -> bool:
        """Append at our last revision; False (and the lease dropped) when not ours."""
        if self._revision is None:
            return False
        try:
            self._revision = await self._append(position, holder, self._revision)
        except ConcurrencyError:
            self._revision = None
            return False
        return True

    async def _append(self, position: int | None, holder: str, expected: int | StreamState) -> int:
        data = encode_checkpoint(position, holder, round(self._ttl * 1000))
        with translated(self._stream, expected if isinstance(expected, int) else -1):
            if not self._capped:
                await self._client.set_stream_metadata(
                    self._stream, metadata={"$maxCount": 1}, timeout=self._timeout
                )
                self._capped = True
            await self._client.append_to_stream(
                self._stream,
                current_version=expected,
                events=[NewEvent(type=CHECKPOINT_EVENT_TYPE, data=data)],
                timeout=self._timeout,
            )
        return (expected + 1) if isinstance(expected, int) else 0

    async def _latest(self) -> _Latest | None:
        with translated(self._stream):
            try:
                found = await read_checkpoint(self._client, self._stream, self._timeout)
            except CheckpointUnreadableError as error:
                raise CheckpointUntrustedError(
                    f"the last event of {self._stream} is {error}"
                ) from None
        if found is None:
            return None
        revision, body = found
        return _Latest(
            revision=revision,
            position=body.position,
            holder=body.holder,
            ttl=None if body.ttl_ms is None else body.ttl_ms / 1000,
        )
