"""Per-stream order across instances: a queued command waits until the one before it in its
inbox stream has been answered, whichever instance answered it.

The group's Pinned strategy keeps an inbox stream on one instance, but a pin moves when an
instance joins or leaves, and a full consumer's messages may go to another: without this check
two instances could then run two commands of one grid at once, out of order. An instance knows
the streams whose previous command it answered itself (the common case: no store read); for any
other it reads the previous inbox event and looks for that event's reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from services.command.application.inbox import (
    InboxCodec,
    PoisonCommandError,
    QueuedCommand,
    reply_stream,
)

__all__ = ["InboxOrder"]

_POLL_SECONDS = 0.05
_REMEMBERED = 100_000  # inbox streams whose last answered revision is kept in memory


class InboxHistory(Protocol):
    """Reads earlier inbox events."""

    async def previous(self, stream: str, revision: int) -> QueuedCommand | None:
        """The event before ``revision`` in ``stream``; None when it no longer matters (gone,
        or older than replies are kept)."""
        ...


class ReplyIndex(Protocol):
    """Tells whether an inbox event has its reply."""

    async def answered(self, stream: str, queued: QueuedCommand) -> bool:
        """Whether ``stream`` holds the reply to the inbox event ``queued``."""
        ...


class InboxOrder:
    """Decides when a queued command's turn has come."""

    def __init__(
        self,
        history: InboxHistory,
        codec: InboxCodec,
        replies: ReplyIndex,
        *,
        wait_seconds: float,
    ) -> None:
        self._history = history
        self._codec = codec
        self._replies = replies
        self._wait = wait_seconds
        self._last: dict[str, int] = {}  # inbox stream -> the last revision answered here
        self.checks = 0  # store look-ups of a previous command's reply
        self.held_back = 0  # commands handed back because the previous one stayed unanswered

    def done(self, queued: QueuedCommand) -> None:
        """``queued`` was answered (or parked) here."""
        if len(self._last) >= _REMEMBERED and queued.stream not in self._last:
            self._last.clear()  # forgetting only costs a store look-up later
        self._last[queued.stream] = queued.revision

    async def turn(self, queued: QueuedCommand, superseded: Callable[[], bool]) -> bool | None:
        """True: run it now. False: the previous command stayed unanswered for the wait (hand
        it back). None: ``superseded()`` became true (an earlier command arrived here)."""
        if queued.revision == 0 or self._last.get(queued.stream) == queued.revision - 1:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        while True:
            if await self._previous_answered(queued):
                self._last[queued.stream] = queued.revision - 1
                return True
            if superseded():
                return None
            if loop.time() >= deadline:
                self.held_back += 1
                return False
            await asyncio.sleep(_POLL_SECONDS)

    async def _previous_answered(self, queued: QueuedCommand) -> bool:
        self.checks += 1
        previous = await self._history.previous(queued.stream, queued.revision)
        if previous is None:
            return True
        try:
            decoded = self._codec.decode(previous.event_type, previous.data)
        except PoisonCommandError:
            return True  # poison changes no grid: there is nothing to wait for
        stream = reply_stream(decoded.request_id, previous.reply_stream)
        return await self._replies.answered(stream, previous)
