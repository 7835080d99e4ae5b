"""A one-line progress bar on stderr for rebuilds (by commit position: counts are not known
ahead), shared by ``python -m services.query rebuild`` and ``rover admin rebuild``."""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]

_WIDTH = 30


class ProgressBar:
    """Redrawn at most five times a second, and always when the target is reached."""

    def __init__(self, label: str = "rebuild") -> None:
        self._label = label
        self._last = 0.0

    def show(self, events: int, position: int, target: int) -> None:
        """Draw ``position`` of ``target`` with ``events`` replayed so far (nothing while the
        target is not known yet: 0)."""
        if target == 0:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and position < target:
            return
        self._last = now
        share = min(1.0, position / target) if target else 1.0
        filled = int(share * _WIDTH)
        sys.stderr.write(
            f"\r{self._label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {share:6.1%} "
            f"{events:,} events"
        )
        sys.stderr.flush()
