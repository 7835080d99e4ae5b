"""EsdbParkedEvents: the ParkedEvents port on EventStoreDB, one stream per consumer.

``rover-parked-{consumer}`` holds JSON events of two types: ``ParkedEvent.v1`` (a parked
event with its reason) and ``ParkedEventResolved.v1`` (``parked_id``, ``how``,
``resolved_at_ms``). The unresolved events are the fold of the stream in order: a parking
adds its id (unless it is already there), a resolution removes it. The streams are short
(one record per poison event), so every call reads the whole stream.
"""

from __future__ import annotations

import json
import time
import uuid
from functools import partial

from esdbclient import AsyncEventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.exceptions import EventStoreDBClientException, NotFound

from services.common.esdb_client import STORE_UNREACHABLE
from services.common.esdb_reads import whole_read
from services.common.logs import get_logger
from services.common.parked import (
    ParkedEvent,
    PoisonEvent,
    grid_of_stream,
    parked_fields,
    parked_stream,
)
from services.common.store_errors import StoreUnavailableError

__all__ = [
    "PARKED_EVENT_TYPE",
    "RESOLVED_EVENT_TYPE",
    "EsdbParkedEvents",
    "decode_parked",
    "encode_parked",
    "poison_of",
]

PARKED_EVENT_TYPE = "ParkedEvent.v1"
RESOLVED_EVENT_TYPE = "ParkedEventResolved.v1"
_FAILED: tuple[type[BaseException], ...] = (EventStoreDBClientException, *STORE_UNREACHABLE)
_log = get_logger(__name__)


def poison_of(recorded: RecordedEvent, reason: str, grid_id: str | None = None) -> PoisonEvent:
    """What a parked record says of a stored event a consumer could not use; its grid is
    ``grid_id`` or, when None, the one of its integration stream."""
    return PoisonEvent(
        stream=recorded.stream_name,
        revision=recorded.stream_position,
        commit_position=recorded.commit_position or 0,
        event_id=str(recorded.id),
        event_type=recorded.type,
        grid_id=grid_of_stream(recorded.stream_name) if grid_id is None else grid_id,
        reason=reason,
    )


def encode_parked(parked: ParkedEvent) -> bytes:
    """The JSON body of a ``ParkedEvent.v1``: the record's fields, flat."""
    return json.dumps(parked_fields(parked), sort_keys=True).encode()


def decode_parked(data: bytes) -> ParkedEvent:
    """Back from ``encode_parked`` (ValueError or KeyError when malformed)."""
    body = json.loads(data)
    event = PoisonEvent(
        stream=str(body["stream"]),
        revision=int(body["revision"]),
        commit_position=int(body["commit_position"]),
        event_id=str(body["event_id"]),
        event_type=str(body["event_type"]),
        grid_id=str(body["grid_id"]),
        reason=str(body["reason"]),
    )
    return ParkedEvent(
        parked_id=str(body["parked_id"]),
        consumer=str(body["consumer"]),
        event=event,
        parked_at_ms=int(body["parked_at_ms"]),
    )


class EsdbParkedEvents:
    """The parked events of every consumer, each in its stream ``rover-parked-{consumer}``."""

    def __init__(self, client: AsyncEventStoreDBClient, *, timeout: float = 5.0) -> None:
        self._client = client
        self._timeout = timeout

    async def _fold(self, consumer: str) -> dict[str, ParkedEvent]:
        stream = parked_stream(consumer)
        read = partial(self._client.get_stream, stream, timeout=self._timeout)
        try:
            recorded = await whole_read(self._client, read)
        except NotFound:
            return {}
        except _FAILED as error:
            raise StoreUnavailableError(f"reading {stream}: {error!r}") from error
        open_: dict[str, ParkedEvent] = {}
        for event in recorded:
            try:
                if event.type == PARKED_EVENT_TYPE:
                    parked = decode_parked(event.data)
                    open_.setdefault(parked.parked_id, parked)
                elif event.type == RESOLVED_EVENT_TYPE:
                    open_.pop(str(json.loads(event.data)["parked_id"]), None)
            except (ValueError, KeyError, TypeError) as error:  # not ours: say so, go on
                _log.warning(
                    "unreadable record in a parked stream ignored",
                    stream=stream,
                    revision=event.stream_position,
                    error=repr(error),
                )
        return open_

    async def _append(self, consumer: str, event_type: str, data: bytes) -> None:
        stream = parked_stream(consumer)
        event = NewEvent(
            type=event_type, data=data, content_type="application/json", id=uuid.uuid4()
        )
        try:
            await self._client.append_to_stream(
                stream, current_version=StreamState.ANY, events=event, timeout=self._timeout
            )
        except _FAILED as error:
            raise StoreUnavailableError(f"appending to {stream}: {error!r}") from error

    async def park(self, parked: ParkedEvent) -> bool:
        if parked.parked_id in await self._fold(parked.consumer):
            return False
        await self._append(parked.consumer, PARKED_EVENT_TYPE, encode_parked(parked))
        return True

    async def unresolved(self, consumer: str) -> list[ParkedEvent]:
        return list((await self._fold(consumer)).values())

    async def resolve(self, consumer: str, parked_id: str, how: str) -> bool:
        if parked_id not in await self._fold(consumer):
            return False
        body = {"parked_id": parked_id, "how": how, "resolved_at_ms": int(time.time() * 1000)}
        await self._append(consumer, RESOLVED_EVENT_TYPE, json.dumps(body).encode())
        return True

    async def count(self, consumer: str) -> int:
        return len(await self._fold(consumer))
