"""Translate esdbclient failures into the port-level errors at the boundary."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime

import grpc
from esdbclient.exceptions import (
    DeadlineExceeded,
    DiscoveryFailed,
    GrpcError,
    NodeIsNotLeader,
    WrongCurrentVersion,
)

from services.command.application.errors import ConcurrencyError, StoreUnavailableError
from services.command.application.ports import EventMetadata
from services.common.cancellation import raise_if_cancelling

__all__ = ["decode_metadata", "encode_metadata", "translated"]

_UNAVAILABLE = (
    GrpcError,
    DeadlineExceeded,
    DiscoveryFailed,
    NodeIsNotLeader,
    grpc.RpcError,
    grpc.aio.UsageError,
    OSError,
)


@contextlib.contextmanager
def translated(stream: str, expected: int = -1) -> Iterator[None]:
    """WrongCurrentVersion -> ConcurrencyError; transport failures -> StoreUnavailableError.

    Also restores a cancellation esdbclient swallowed (its reads end quietly when cancelled,
    and ``get_stream`` then returns a truncated tuple): the block must not look complete.
    """
    try:
        yield
        raise_if_cancelling()
    except WrongCurrentVersion:
        raise ConcurrencyError(stream, expected) from None
    except _UNAVAILABLE as error:
        raise StoreUnavailableError(f"event store unavailable ({stream}): {error!r}") from error


def encode_metadata(metadata: EventMetadata) -> bytes:
    """The JSON metadata stored beside every domain event."""
    body = {
        "occurred_at": metadata.occurred_at.isoformat(),
        "command": metadata.command,
        "request_id": metadata.request_id,
        "fingerprint": metadata.fingerprint,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_metadata(data: bytes) -> EventMetadata:
    """Parse ``encode_metadata``'s bytes (missing keys tolerated: events written by others)."""
    body = json.loads(data) if data else {}
    return EventMetadata(
        occurred_at=datetime.fromisoformat(body["occurred_at"]),
        command=str(body.get("command", "")),
        request_id=str(body.get("request_id", "")),
        fingerprint=str(body.get("fingerprint", "")),
    )
