"""Work that runs on one instance at a time: a lease held in an engine we already run.

Several instances of a service may run side by side (one machine or many); some work must
not be done by more than one of them: the command service's publisher, the query service's
projector. Each such work item has a :class:`Lease` kept in the store it writes to
(EventStoreDB for the publisher, Redis for the projector), and :func:`hold_and_run` runs the
work only while this instance holds it:

- acquire: try every ``retry_every`` seconds; a lease nobody renewed for ``ttl`` seconds (or
  one whose holder is a dead process on this host, or released at a graceful stop) is taken;
- renew every ``renew_every`` seconds; when a renewal is refused (another instance took it)
  or none succeeded for ``ttl`` seconds, the work is cancelled and the instance stands by;
- release on stop, so a standby takes over at its next try instead of after ``ttl``.

Timing alone cannot make a paused holder harmless, so every lease is also a fencing token:
the holder's writes that matter (the publisher's checkpoint, the projector's commits) are
conditional on still holding it, inside the store, and fail with :class:`LeaseLostError`
otherwise. Nothing here is consensus of our own: the store's conditional write decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from services.common.logs import get_logger

__all__ = [
    "Lease",
    "LeaseLostError",
    "LeaseTiming",
    "hold_and_run",
    "holder_is_gone",
    "new_holder_id",
]

_log = get_logger(__name__)


class LeaseLostError(Exception):
    """A write conditional on holding a lease was refused: another instance holds it now."""


def new_holder_id() -> str:
    """``host:pid:random``: unique per process start, and tells where the holder runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_gone(holder: str) -> bool:
    """Whether ``holder`` was a process of this host that no longer exists (it cannot renew,
    so its lease can be taken at once instead of after its ttl)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)  # this process too: another lease object of it may hold it
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Lease(Protocol):
    """One named lease in a store. Implementations keep their own holder id."""

    @property
    def holder(self) -> str:
        """This instance's holder id."""
        ...

    async def acquire(self) -> bool:
        """Take the lease if it is free, expired, released or its holder is gone; True when
        this instance holds it afterwards. Never waits for it."""
        ...

    async def renew(self) -> bool:
        """Extend the lease; False when another instance holds it now."""
        ...

    async def release(self) -> None:
        """Give the lease up (if still held), so another instance can take it at once."""
        ...

    def current_holder(self) -> str:
        """The holder id last seen in the store ('' when none), for logs and status."""
        ...


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """How long a lease lasts unrenewed, and how often it is renewed and tried."""

    ttl: float = 5.0
    renew_every: float = 1.0
    retry_every: float = 1.0

    @classmethod
    def for_ttl(cls, ttl: float) -> LeaseTiming:
        """Renewed and tried every second, or four times per ``ttl`` when it is shorter."""
        every = min(1.0, ttl / 4)
        return cls(ttl=ttl, renew_every=every, retry_every=every)

    def __post_init__(self) -> None:
        if not 0 < self.renew_every < self.ttl:
            raise ValueError("renew_every must be positive and below ttl")
        if self.retry_every <= 0:
            raise ValueError("retry_every must be positive")


Work = Callable[[], Awaitable[None]]


async def hold_and_run(
    name: str,
    lease: Lease,
    work: Work,
    timing: LeaseTiming,
    *,
    on_change: Callable[[bool], None] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``work`` whenever this instance holds ``lease``, until cancelled.

    ``on_change(True)`` when this instance becomes active, ``on_change(False)`` when it stops
    being so. ``work`` is cancelled when the lease is lost; when it raises
    :class:`LeaseLostError` itself (a fenced write was refused), the lease is given up and
    tried again. Any other failure of ``work`` propagates.
    """
    waiting_logged = False
    try:
        while True:
            try:
                held = await lease.acquire()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                _log.warning("lease not reachable; trying again", lease=name, error=repr(error))
                held = False
            if not held:
                if not waiting_logged:
                    _log.info(
                        "standing by: another instance holds the lease",
                        lease=name,
                        holder=lease.current_holder(),
                    )
                    waiting_logged = True
                await asyncio.sleep(timing.retry_every)
                continue
            waiting_logged = False
            _log.info("lease acquired; this instance is active", lease=name, holder=lease.holder)
            if on_change is not None:
                on_change(True)
            try:
                await _run_while_held(name, lease, work, timing, monotonic)
            finally:
                if on_change is not None:
                    on_change(False)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(lease.release())


async def _run_while_held(
    name: str, lease: Lease, work: Work, timing: LeaseTiming, monotonic: Callable[[], float]
) -> None:
    """Run ``work`` and renew beside it; return when the lease is lost (work cancelled)."""
    task = asyncio.ensure_future(work())
    renewed_at = monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=timing.renew_every)
            if done:
                error = task.exception()
                if isinstance(error, LeaseLostError):
                    _log.warning("lease lost (a fenced write was refused)", lease=name)
                    return
                if error is not None:
                    raise error
                return  # the work ended on its own: hold nothing we do not use
            started = monotonic()
            try:
                still = await asyncio.wait_for(lease.renew(), timing.ttl)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                still = None
                _log.warning("lease renewal failed", lease=name, error=repr(error))
            if still:
                renewed_at = started
            elif still is False:
                _log.warning("lease lost; standing by", lease=name, holder=lease.current_holder())
                return
            elif monotonic() - renewed_at >= timing.ttl:
                _log.warning("lease not renewed within its ttl; standing by", lease=name)
                return
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeaseLostError):
            await task
