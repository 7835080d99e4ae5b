"""One rebuild at a time across every query instance, run by the serving query service.

A rebuild takes a lease (a Redis key beside the read model's) before it starts; a second
request, on this instance or another, is refused with RebuildRunningError while the first
runs. The rebuild is a task of the service, not of the request that started it: a client
that goes away stops receiving progress, and the rebuild carries on to its atomic swap (a
rebuild cut off half-way would only leave an inactive generation behind to delete). The
service stopping cancels it; the active generation is untouched then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from services.common.lease import Lease
from services.common.logs import get_logger
from services.common.parked import ParkedEvents
from services.query.application.errors import QueryError
from services.query.application.ports import EventFeed, ReadModel
from services.query.application.rebuild import RebuildProgress, RebuildResult, rebuild

__all__ = ["ExclusiveRebuild", "RebuildRunningError"]

_log = get_logger(__name__)


class RebuildRunningError(QueryError):
    """Another rebuild holds the lease: ``holder`` names its instance."""

    def __init__(self, holder: str) -> None:
        super().__init__(
            f"a rebuild is already running (held by {holder or 'another instance'}); "
            "wait for it to finish"
        )
        self.holder = holder


Listener = Callable[[RebuildProgress | None], None]


class ExclusiveRebuild:
    """Starts rebuilds under ``lease``; ``on_progress`` sees each step, then None at the end
    (the query service keeps the last one in ``QueryParts.rebuild``)."""

    def __init__(
        self,
        feed: EventFeed,
        read_model: ReadModel,
        lease: Lease,
        *,
        batch_size: int,
        renew_every: float,
        on_progress: Listener | None = None,
        parked: ParkedEvents | None = None,
    ) -> None:
        self._parked = parked
        self._feed = feed
        self._model = read_model
        self._lease = lease
        self._batch_size = batch_size
        self._renew_every = renew_every
        self._on_progress = on_progress
        self._running: set[asyncio.Task[RebuildResult]] = set()

    async def start(self, watcher: Listener) -> asyncio.Task[RebuildResult]:
        """Take the lease and start a rebuild; ``watcher`` (the request) sees its progress
        until it finishes. RebuildRunningError when another rebuild runs."""
        if not await self._lease.acquire():
            raise RebuildRunningError(self._lease.current_holder())

        def report(progress: RebuildProgress | None) -> None:
            if self._on_progress is not None:
                self._on_progress(progress)
            watcher(progress)

        task = asyncio.create_task(self._run(report), name="admin-rebuild")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _run(self, report: Listener) -> RebuildResult:
        renewing = asyncio.create_task(self._renew())
        try:
            report(RebuildProgress(0, 0, 0))
            return await rebuild(
                self._feed,
                self._model,
                batch_size=self._batch_size,
                on_progress=report,
                parked=self._parked,
            )
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            report(None)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._lease.release())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                if not await self._lease.renew():
                    _log.warning("rebuild lease taken by another instance; rebuild continues")
                    return
            except Exception as error:  # an outage: the rebuild fails on its own reads too
                _log.warning("rebuild lease not renewed", error=repr(error))

    async def finished(self) -> None:
        """Return once no rebuild started here is running (whatever their outcome)."""
        await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        """Cancel a running rebuild (the service stops); its lease is released."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
