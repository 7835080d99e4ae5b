"""The publisher's low-water mark: how far through the feed everything is done, out of order."""

from __future__ import annotations

from collections import deque

__all__ = ["Slot", "Watermark"]


class Slot:
    """One feed item on its way: done once its integration event is durably appended."""

    __slots__ = ("done", "position")

    def __init__(self, position: int, *, done: bool = False) -> None:
        self.position = position
        self.done = done


class Watermark:
    """Feed positions taken in order, finished in any order.

    ``position`` is the highest position such that every item taken up to it is done: the only
    position a checkpoint may record. An item finished early (another grid's) waits behind an
    unfinished one; the mark moves past both when the older one is done.
    """

    def __init__(self, start: int | None) -> None:
        self.position = start
        self._slots: deque[Slot] = deque()

    @property
    def pending(self) -> int:
        """Items taken and not yet covered by ``position`` (done or not)."""
        return len(self._slots)

    def take(self, position: int) -> Slot:
        """Track an item to be published; mark its slot done when it is."""
        slot = Slot(position)
        self._slots.append(slot)
        return slot

    def skip(self, position: int) -> int:
        """An item with nothing to publish (a feed checkpoint); returns ``advance()``."""
        if not self._slots:
            self.position = position
            return 1
        self._slots.append(Slot(position, done=True))
        return self.advance()

    def advance(self) -> int:
        """Move ``position`` over the finished prefix; how many items it newly covers."""
        covered = 0
        slots = self._slots
        while slots and slots[0].done:
            self.position = slots.popleft().position
            covered += 1
        return covered
