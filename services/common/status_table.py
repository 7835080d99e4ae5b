"""One error-mapping shape for every servicer: a table of (error type -> ErrorStatus) rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

import grpc

from services.common.logs import failure_fields, get_logger
from services.common.rich_errors import ErrorStatus, abort, error_info

__all__ = ["INTERNAL", "Rule", "StatusTable"]

E = TypeVar("E", bound=BaseException)
_log = get_logger(__name__)

# What an unexpected failure answers: no internals leak to the client; the log has them.
INTERNAL = ErrorStatus(grpc.StatusCode.INTERNAL, "internal error", (error_info("INTERNAL"),))


@dataclass(frozen=True, slots=True)
class Rule(Generic[E]):
    """Errors of type ``error`` (and subclasses) answer ``status(error)``."""

    error: type[E]
    status: Callable[[E], ErrorStatus]


class StatusTable:
    """A service's one mapping from failures to statuses; the first matching rule wins."""

    def __init__(self, service: str, rules: Sequence[Rule[Any]]) -> None:
        self._service = service
        self._rules = tuple(rules)

    def status_of(self, error: BaseException) -> ErrorStatus:
        """The status ``error`` answers; INTERNAL (logged) for one no rule expects."""
        for rule in self._rules:
            if isinstance(error, rule.error):
                status: ErrorStatus = rule.status(error)
                return status
        _log.error("unexpected failure", service=self._service, **failure_fields(error))
        return INTERNAL

    async def abort(self, context: Any, error: BaseException) -> NoReturn:
        """End the call with ``error``'s status; never returns."""
        code, message, details = self.status_of(error)
        await abort(context, code, message, *details)
