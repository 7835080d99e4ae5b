"""A Lease in a variable, for tests and single-process setups (same rules as the stores')."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.lease import holder_is_gone, new_holder_id

__all__ = ["InMemoryLease", "LeaseCell"]


@dataclass
class LeaseCell:
    """What the store holds, shared by the leases of several "instances"."""

    holder: str = ""
    version: int = 0  # bumped by every write, as a stream revision is
    written_at: float = 0.0


class InMemoryLease:
    """Lease over a :class:`LeaseCell`; expires ``ttl`` seconds after the last write."""

    def __init__(
        self,
        cell: LeaseCell | None = None,
        *,
        holder: str | None = None,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cell = cell or LeaseCell()
        self._holder = holder or new_holder_id()
        self._ttl = ttl
        self._monotonic = monotonic
        self._version: int | None = None  # the cell's version after our last write

    @property
    def holder(self) -> str:
        return self._holder

    def current_holder(self) -> str:
        return self.cell.holder

    @property
    def held(self) -> bool:
        """Whether the last write to the cell is ours (and names us)."""
        return self._version is not None and self._version == self.cell.version

    async def acquire(self) -> bool:
        cell = self.cell
        if self.held and cell.holder == self._holder:
            return self.write()  # checked with the store, as after a standby
        expired = self._monotonic() - cell.written_at >= self._ttl
        taken = cell.holder and cell.holder != self._holder
        if taken and not expired and not holder_is_gone(cell.holder):
            return False
        self._version = cell.version
        return self.write()

    async def renew(self) -> bool:
        return self.write()

    async def release(self) -> None:
        self.write("")
        self._version = None

    def write(self, holder: str | None = None) -> bool:
        """A fenced write: True (and the cell bumped) only while this lease holds it."""
        if not self.held:
            self._version = None
            return False
        cell = self.cell
        cell.holder = self._holder if holder is None else holder
        cell.version += 1
        cell.written_at = self._monotonic()
        self._version = cell.version
        return True
