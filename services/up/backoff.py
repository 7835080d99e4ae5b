"""How long the supervisor waits before starting a dead instance again."""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays before each restart of one child: ``first``, doubling up to ``longest``.

    A child that ran at least ``longest`` seconds before dying was healthy, not crash-looping:
    its next delay is ``first`` again.
    """

    def __init__(self, first: float = 1.0, longest: float = 30.0) -> None:
        if not 0 < first <= longest:
            raise ValueError(f"need 0 < first <= longest, got {first} and {longest}")
        self._first = first
        self._longest = longest
        self._last: float | None = None

    def next(self, lived: float) -> float:
        """The delay before the next start of a child that died after ``lived`` seconds."""
        if self._last is None or lived >= self._longest:
            self._last = self._first
        else:
            self._last = min(self._last * 2, self._longest)
        return self._last
