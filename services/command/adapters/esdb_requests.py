"""EsdbRequestLog: the RequestLog port on EventStoreDB, one small stream per request.

Each request applied to a grid is kept in ``rover-request-{grid_id}-{digest}`` (the digest is
of its request_id, so any request id makes a valid, bounded stream name) as one
``RequestApplied.v1`` JSON event, with the stream metadata ``$maxAge`` = the retention period:
the store hides it after that and its scavenge frees the space, so the log's storage is
bounded by the requests of one period. With integration keys each record is signed as the
integration events are (services/common/integration_signing.py) and a lookup ignores a record
that does not verify, so a forged record cannot turn a new request into a "retry". The names
stay outside the ``grid-*`` and
``integration-*`` categories every consumer subscribes to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from esdbclient import AsyncEventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.exceptions import NotFound, StreamIsDeleted

from services.command.adapters.esdb_appends import Appender, StockAppender
from services.command.adapters.esdb_errors import translated
from services.command.application.ports import IntegrationLog, RequestRecord
from services.command.application.request_log import LoggedRequest, joined
from services.common.esdb_reads import whole_read
from services.common.integration_signing import SIGNATURE_FIELD, IntegrationKeys, signed_bytes
from services.common.logs import get_logger

__all__ = ["REQUEST_EVENT_TYPE", "EsdbRequestLog", "request_stream"]

REQUEST_EVENT_TYPE = "RequestApplied.v1"
_NAMESPACE = uuid.UUID("5d0c2a7e-8f3b-4c61-9e2d-1b7a4f6c0e93")
_log = get_logger(__name__)


def request_stream(grid_id: str, request_id: str) -> str:
    """The stream of one request of one grid."""
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:32]
    return f"rover-request-{grid_id}-{digest}"


def _signed(stream: str, event_id: uuid.UUID, data: bytes) -> bytes:
    """What a record's signature covers (its revision is not known when it is written)."""
    return signed_bytes(
        stream=stream, revision=-1, event_type=REQUEST_EVENT_TYPE, event_id=event_id, data=data
    )


def _event(grid_id: str, logged: LoggedRequest, keys: IntegrationKeys) -> NewEvent:
    record = logged.record
    body = {
        "grid_id": grid_id,
        "request_id": record.request_id,
        "command": record.command,
        "fingerprint": record.fingerprint,
        "first_version": record.first_version,
        "last_version": record.last_version,
        "occurred_at": logged.occurred_at.isoformat(),
    }
    key = f"{grid_id}/{record.request_id}/{record.first_version}"
    event_id = uuid.uuid5(_NAMESPACE, key)
    data = json.dumps(body, separators=(",", ":")).encode()
    signature = keys.signature(_signed(request_stream(grid_id, record.request_id), event_id, data))
    metadata = {SIGNATURE_FIELD: signature} if signature is not None else {}
    return NewEvent(
        type=REQUEST_EVENT_TYPE,
        data=data,
        metadata=json.dumps(metadata, separators=(",", ":")).encode(),
        content_type="application/json",
        id=event_id,
    )


def _logged(
    grid_id: str, request_id: str, found: Sequence[RecordedEvent], keys: IntegrationKeys
) -> LoggedRequest | None:
    """One request from its records (a request published in two batches has two: joined);
    with integration keys, only the records the publisher signed."""
    records: list[LoggedRequest] = []
    for recorded in found:
        try:
            keys.verify(
                _signed(recorded.stream_name, recorded.id, recorded.data), recorded.metadata
            )
            body = json.loads(recorded.data)
            if body["grid_id"] != grid_id or body["request_id"] != request_id:
                continue  # a digest collision, or a record that is not ours
            record = RequestRecord(
                request_id,
                str(body["command"]),
                str(body["fingerprint"]),
                int(body["first_version"]),
                int(body["last_version"]),
            )
            records.append(LoggedRequest(record, datetime.fromisoformat(body["occurred_at"])))
        except (ValueError, KeyError, TypeError) as error:  # SignatureError is a ValueError
            _log.warning(
                "unreadable request record", stream=recorded.stream_name, error=repr(error)
            )
    return joined(records)


class EsdbRequestLog:
    """RequestLog in per-request streams with ``$maxAge`` = ``retention`` (see the module)."""

    def __init__(
        self,
        client: AsyncEventStoreDBClient,
        integration: IntegrationLog,
        retention: timedelta,
        *,
        timeout: float = 5.0,
        appender: Appender | None = None,
        keys: IntegrationKeys | None = None,
    ) -> None:
        self._client = client
        self._integration = integration
        self._keys = keys or IntegrationKeys()
        self._metadata = json.dumps({"$maxAge": max(1, int(retention.total_seconds()))}).encode()
        self._timeout = timeout
        self._appender = appender or StockAppender(client)

    async def record(self, grid_id: str, requests: Sequence[LoggedRequest]) -> None:
        await asyncio.gather(*(self._record(grid_id, r) for r in requests))

    async def _record(self, grid_id: str, logged: LoggedRequest) -> None:
        stream = request_stream(grid_id, logged.record.request_id)
        # The metadata as esdbclient's set_stream_metadata writes it ($$stream, $metadata),
        # but through the appender: both writes share its kept-open BatchAppend calls.
        metadata = NewEvent(type="$metadata", data=self._metadata, content_type="application/json")
        try:
            with translated(stream):
                await asyncio.gather(
                    self._appender.append(
                        f"$${stream}", StreamState.ANY, [metadata], deadline=self._timeout
                    ),
                    self._appender.append(
                        stream,
                        StreamState.ANY,
                        [_event(grid_id, logged, self._keys)],
                        deadline=self._timeout,
                    ),
                )
        except StreamIsDeleted:  # deleted by someone else: publication must not stall on it
            _log.error(
                "request log stream deleted; this request is deduplicated by the window only",
                stream=stream,
                grid_id=grid_id,
            )

    async def find(self, grid_id: str, request_id: str) -> LoggedRequest | None:
        stream = request_stream(grid_id, request_id)
        with translated(stream):
            try:
                found = await whole_read(
                    self._client,
                    lambda: self._client.get_stream(stream, limit=16, timeout=self._timeout),
                )
            except (NotFound, StreamIsDeleted):
                return None
        return _logged(grid_id, request_id, found, self._keys)

    async def published(self, grid_id: str) -> int:
        return await self._integration.last_sequence(grid_id)
