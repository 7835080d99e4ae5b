"""Per-client counts of open calls: watchers (refused beyond a cap) and calls in flight (queued).

Both keep an entry only for a client with a call open or waiting, so their size is bounded by
the calls the server holds, never by how many clients it has seen; the clients seen recently
(for contention) are at most the window's and at most 10,000. One event loop; not
thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["InFlight", "Watchers"]

_SEEN_KEPT = 10_000  # clients remembered for contention (the least recently seen go first)


class Watchers:
    """Open server-streaming calls per client, at most ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        """Take one of ``client``'s slots; False when it has ``limit`` open already."""
        held = self._open.get(client, 0)
        if held >= self.limit:
            return False
        self._open[client] = held + 1
        return True

    def release(self, client: str) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        held = self._open.pop(client, 1) - 1
        if held > 0:
            self._open[client] = held

    def __len__(self) -> int:
        return len(self._open)


class InFlight:
    """At most ``limit`` calls of one client run at once; up to ``queue`` more wait, in order.

    A client's calls wait only behind its own: another client's first call runs at once, so
    one client flooding a server with concurrent calls delays the others by at most
    ``limit`` of its calls, not by all of them.

    Under contention, fewer: while another client has called within the last ``window``
    seconds, a client that ``shares`` applies to runs at most ``shared`` calls at once (0: no
    such limit). Its further calls then wait here, where they cost the event loop nothing,
    instead of running side by side with the other client's: a server is saturated by a
    flood of a few hundred concurrent calls whatever their order, and the calls it has not
    accepted yet wait in one queue for all clients (docs/security.md, Limits). Alone, a
    client has all of ``limit`` again.
    """

    def __init__(
        self,
        limit: int,
        queue: int,
        *,
        shared: int = 0,
        window: float = 10.0,
        shares: Callable[[str], bool] = lambda _client: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.queue = limit, queue
        self.shared = min(shared, limit)
        self._window = window
        self._shares = shares
        self._clock = clock
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        # The clients seen within the window, least recently seen first (bounded).
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._running)

    def waiting(self, client: str) -> int:
        """How many of ``client``'s calls wait for a slot."""
        return len(self._waiting.get(client, ()))

    def allowed(self, client: str) -> int:
        """How many calls ``client`` may run at once now."""
        if not self.shared or not self._shares(client):
            return self.limit
        self._forget_old()
        contended = len(self._seen) > 1 or (len(self._seen) == 1 and client not in self._seen)
        return self.shared if contended else self.limit

    def _forget_old(self) -> None:
        horizon = self._clock() - self._window
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)

    def _saw(self, client: str) -> None:
        if self.shared:
            self._seen[client] = self._clock()
            self._seen.move_to_end(client)
            self._forget_old()
            if len(self._seen) > _SEEN_KEPT:
                self._seen.popitem(last=False)

    async def acquire(self, client: str) -> bool:
        """Run now, or wait for one of the client's calls to end; False when its queue is full."""
        self._saw(client)
        running = self._running.get(client, 0)
        if client not in self._waiting and running < self.allowed(client):
            self._running[client] = running + 1
            return True
        waiting = self._waiting.get(client)
        if waiting is None:
            if self.queue <= 0:
                return False
            waiting = self._waiting[client] = deque()
        elif len(waiting) >= self.queue:
            return False
        turn = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await turn  # the release that let it in counted it as running
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release(client)  # let in, but cancelled before it ran
            else:
                with contextlib.suppress(ValueError):  # (already taken out by _let_in)
                    waiting.remove(turn)
                if not waiting and self._waiting.get(client) is waiting:
                    del self._waiting[client]
            raise
        return True

    def release(self, client: str) -> None:
        """End a call that :meth:`acquire` let run: the client's next waiting calls run, as
        many as it may run now."""
        running = self._running.pop(client, 1) - 1
        if running > 0:
            self._running[client] = running
        self._let_in(client)

    def _let_in(self, client: str) -> None:
        waiting = self._waiting.get(client)
        if not waiting:
            return
        running, allowed = self._running.get(client, 0), self.allowed(client)
        while waiting and running < allowed:
            turn = waiting.popleft()
            if not turn.done():  # (a cancelled waiter is skipped)
                turn.set_result(None)
                running += 1
        if running:
            self._running[client] = running
        if not waiting:
            del self._waiting[client]
