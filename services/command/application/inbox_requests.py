"""Submitting to the command inbox and reading a command's reply (the SubmitCommand and
GetCommandResult use cases); the wire forms are the servicer's."""

from __future__ import annotations

import asyncio
from typing import Protocol

from services.command.application.inbox import Reply

__all__ = ["InboxWriter", "ReplyReader", "wait_for_reply"]

_POLL_SECONDS = 0.05  # between looks at a reply stream while a caller waits


class InboxWriter(Protocol):
    """Appends commands to inbox streams."""

    async def enqueue(self, stream: str, event_type: str, data: bytes, *, reply_stream: str) -> int:
        """Append one command; its commit position. StoreUnavailableError on an outage."""
        ...


class ReplyReader(Protocol):
    """Finds a command's reply in a reply stream."""

    async def find(self, stream: str, request_id: str) -> Reply | None:
        """The reply to ``request_id`` in ``stream``, or None while there is none."""
        ...


async def wait_for_reply(
    reader: ReplyReader, stream: str, request_id: str, wait_seconds: float
) -> Reply | None:
    """The reply, looking again until it is there or ``wait_seconds`` have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        reply = await reader.find(stream, request_id)
        if reply is not None or loop.time() >= deadline:
            return reply
        await asyncio.sleep(min(_POLL_SECONDS, max(0.0, deadline - loop.time())))
