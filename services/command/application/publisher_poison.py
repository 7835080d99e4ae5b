"""What the publisher does with what it cannot publish.

A poison domain event (undecodable, a deleted grid's tombstone, an event in a stream whose name
is not a grid's) is parked for the consumer ``publisher`` (``rover-parked-publisher``) and
its grid is held: the grid's later events are not published, so its integration stream stays
gapless, while every other grid goes on. An operator's replay resolves the record (the admin
API, services/query/application/parked.py); ``HeldGrids.released`` then names the grid, and
the publisher publishes its held events from the domain stream, in order.

A checkpoint that is not one, or that lies beyond the newest event of the store, is not
trusted: ``CheckpointGuard`` says why (``problem``), and the publisher publishes nothing until
an operator fixes it (docs/operations.md "Parked events"), instead of silently skipping.
"""

from __future__ import annotations

from services.command.application.errors import CheckpointUntrustedError
from services.command.application.ports import CheckpointStore
from services.common.logs import get_logger
from services.common.parked import PUBLISHER, ParkedEvents, PoisonEvent
from services.common.parked_holds import Holds

__all__ = ["CheckpointGuard", "HeldGrids", "check_start"]

_log = get_logger(__name__)


class HeldGrids:
    """The grids held at a parked event, and how many of the publisher's records are open."""

    def __init__(self, parked: ParkedEvents) -> None:
        self._parked = parked
        self._holds = Holds(parked, PUBLISHER)
        self.grids: set[str] = set()
        self.count = 0  # unresolved parked events, as last read
        self._holdings = 0  # holds taken (a release read before a newer hold is not trusted)

    async def load(self) -> None:
        """Hold the grids of the unresolved records (a restart finds its holds again)."""
        unresolved = await self._parked.unresolved(PUBLISHER)
        self.grids = {p.event.grid_id for p in unresolved if p.event.grid_id}
        self.count = len(unresolved)

    async def hold(self, poison: PoisonEvent) -> None:
        """Park ``poison`` (once) and hold its grid, if it names one."""
        if poison.grid_id:
            self.grids.add(poison.grid_id)
            self._holdings += 1
        await self._holds.hold(poison)
        self.count = await self._parked.count(PUBLISHER)

    async def released(self) -> list[str]:
        """The held grids whose records an operator resolved since; no longer held."""
        holdings = self._holdings
        unresolved = await self._parked.unresolved(PUBLISHER)
        self.count = len(unresolved)
        if holdings != self._holdings:  # a grid was held while we read: look again next time
            return []
        still = {p.event.grid_id for p in unresolved}
        released = sorted(self.grids - still)
        self.grids -= set(released)
        for grid_id in released:
            _log.info("grid released: publishing its held events", grid_id=grid_id)
        return released


def check_start(start: int | None, head: int | None) -> None:
    """CheckpointUntrustedError when the checkpoint ``start`` lies beyond the store's ``head``."""
    if start is not None and (head is None or start > head):
        raise CheckpointUntrustedError(
            f"the checkpoint says commit position {start}, beyond the newest event of the "
            f"store ({'none' if head is None else head}); publishing from it would skip events"
        )


class CheckpointGuard:
    """The checkpoint store as the publisher's lease, saying why a checkpoint is untrusted.

    ``acquire`` answers False (stand by) while the checkpoint is not trusted; ``problem``
    says why (None when trusted), logged as an error once per distinct problem.
    """

    def __init__(self, checkpoints: CheckpointStore) -> None:
        self._checkpoints = checkpoints
        self.problem: str | None = None

    @property
    def holder(self) -> str:
        return self._checkpoints.holder

    def current_holder(self) -> str:
        return self._checkpoints.current_holder()

    def untrusted(self, error: CheckpointUntrustedError) -> None:
        """Record (and log once) why the checkpoint is not trusted."""
        if str(error) != self.problem:
            _log.error(
                "publisher checkpoint not trusted: nothing is published until an operator "
                "fixes it (docs/operations.md, Parked events)",
                problem=str(error),
            )
        self.problem = str(error)

    def trusted(self) -> None:
        if self.problem is not None:
            _log.info("publisher checkpoint trusted again")
        self.problem = None

    async def acquire(self) -> bool:
        try:
            return await self._checkpoints.acquire()
        except CheckpointUntrustedError as error:
            self.untrusted(error)
            return False

    async def renew(self) -> bool:
        return await self._checkpoints.renew()

    async def release(self) -> None:
        await self._checkpoints.release()
