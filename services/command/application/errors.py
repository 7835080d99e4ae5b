"""Application-level failures: store conflicts and outages, exhausted retries, request id misuse.

``StoreUnavailableError`` is the one in ``services.common.store_errors``, re-exported here.
"""

from __future__ import annotations

from domain.errors import DomainError, ErrorCategory
from services.common.store_errors import StoreUnavailableError

__all__ = [
    "CheckpointUntrustedError",
    "CommandAbortedError",
    "ConcurrencyError",
    "GridDeletedError",
    "InvalidRequestIdError",
    "PublicationError",
    "RequestIdReusedError",
    "StoreUnavailableError",
]


class ConcurrencyError(Exception):
    """An append's expected version did not match the stream (someone else wrote first)."""

    def __init__(self, stream: str, expected: int) -> None:
        super().__init__(f"stream {stream!r} is no longer at version {expected}")
        self.stream = stream
        self.expected = expected


class CommandAbortedError(Exception):
    """Concurrent writers kept moving the grid: every attempt conflicted."""

    def __init__(self, grid_id: str, attempts: int) -> None:
        super().__init__(
            f"grid {grid_id!r} kept changing under the command; gave up after {attempts} attempts"
        )
        self.grid_id = grid_id
        self.attempts = attempts


class CheckpointUntrustedError(Exception):
    """The publisher's checkpoint is garbage, or lies beyond the newest event of the store:
    publishing from it would skip events, so the publisher stops until an operator fixes it."""


class PublicationError(Exception):
    """The integration stream disagrees with the domain stream: a bug, never a client's fault."""


class InvalidRequestIdError(DomainError):
    """A request_id that is too long or holds control characters."""

    default_reason = "REQUEST_ID_INVALID"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="request_id")


class RequestIdReusedError(DomainError):
    """A request_id already used on this grid for a different command or different arguments."""

    category = ErrorCategory.FAILED_PRECONDITION
    default_reason = "REQUEST_ID_REUSED"

    def __init__(self, grid_id: str, request_id: str, original_command: str) -> None:
        super().__init__(
            f"request_id {request_id!r} was already used on grid {grid_id!r} for a different "
            f"request ({original_command}); use a fresh request_id for a new request",
            field="request_id",
        )
        self.grid_id = grid_id
        self.request_id = request_id
        self.original_command = original_command


class GridDeletedError(DomainError):
    """The grid's stream was deleted (tombstoned) in the store: no command can apply to it."""

    category = ErrorCategory.FAILED_PRECONDITION
    default_reason = "GRID_DELETED"

    def __init__(self, grid_id: str) -> None:
        super().__init__(
            f"grid {grid_id!r} was deleted from the event store; it takes no more commands "
            "(its id cannot be used again)",
            field="grid_id",
        )
        self.grid_id = grid_id
