"""Per-client counts of open calls: watchers (refused beyond a cap) and calls in flight (queued).

Both keep an entry only for a client with a call open or waiting, so their size is bounded by
the calls the server holds, never by how many clients it has seen. One event loop; not
thread-safe.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["InFlight", "Watchers"]


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
    """

    def __init__(self, limit: int, queue: int) -> None:
        self.limit, self.queue = limit, queue
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def __len__(self) -> int:
        return len(self._running)

    def waiting(self, client: str) -> int:
        """How many of ``client``'s calls wait for a slot."""
        return len(self._waiting.get(client, ()))

    async def acquire(self, client: str) -> bool:
        """Run now, or wait for one of the client's calls to end; False when its queue is full."""
        running = self._running.get(client, 0)
        if running < self.limit:
            self._running[client] = running + 1
            return True
        waiting = self._waiting.setdefault(client, deque())
        if len(waiting) >= self.queue:
            return False
        turn = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await turn  # a release hands its slot over: ``running`` does not change
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release(client)  # handed a slot, but cancelled before using it
            else:
                waiting.remove(turn)
                if not waiting:
                    del self._waiting[client]
            raise
        return True

    def release(self, client: str) -> None:
        """End a call that :meth:`acquire` let run: the next waiting call of the client runs."""
        waiting = self._waiting.get(client)
        while waiting:
            turn = waiting.popleft()
            if not waiting:
                del self._waiting[client]
            if not turn.done():
                turn.set_result(None)
                return
        running = self._running.pop(client, 1) - 1
        if running > 0:
            self._running[client] = running
