"""Translate esdbclient failures into the port-level errors at the boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from esdbclient.exceptions import (
    WrongCurrentVersion,
)

from services.command.application.errors import ConcurrencyError, StoreUnavailableError
from services.common.cancellation import raise_if_cancelling
from services.common.esdb_client import STORE_UNREACHABLE

__all__ = ["translated"]

_UNAVAILABLE: tuple[type[BaseException], ...] = (*STORE_UNREACHABLE, OSError)


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
