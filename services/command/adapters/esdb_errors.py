"""Translate esdbclient failures into the port-level errors at the boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc
from esdbclient.exceptions import (
    CancelledByClient,
    DeadlineExceeded,
    DiscoveryFailed,
    GrpcError,
    NodeIsNotLeader,
    WrongCurrentVersion,
)

from services.command.application.errors import ConcurrencyError, StoreUnavailableError
from services.common.cancellation import raise_if_cancelling

__all__ = ["translated"]

_UNAVAILABLE = (
    # esdbclient raises it when another task's reconnect closed the shared channel under a
    # call; a cancellation of this task is re-raised as such by raise_if_cancelling first.
    CancelledByClient,
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
        raise_if_cancelling()
        raise StoreUnavailableError(f"event store unavailable ({stream}): {error!r}") from error
