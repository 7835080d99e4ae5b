"""The one error every service's application raises when the event store cannot be reached."""

from __future__ import annotations

__all__ = ["StoreUnavailableError"]


class StoreUnavailableError(ConnectionError):
    """The event store could not be reached or did not answer in time; the caller may retry.

    A ``ConnectionError`` (an ``OSError``): what catches a dependency that is down catches it.
    """
